"""Authentication against hostile or unusual peers on loopback: IAM answers that are too deep, too big
or never finish, and AK/SK signing to an emulator on the IPv6 loopback ``[::1]``.

Each IAM case reproduces a review finding and fails on the old ``hss/auth.py``: a 60 KB run of ``[``
escaped as ``RecursionError`` (finding 3), a trickled answer was read for as long as it lasted
(finding 4), an endless answer was read into memory without a cap, and a 401 body from HSS was
decoded with a bare ``json.loads``. The ``[::1]`` case reproduces "Signer, IPv6/IDN endpoints" (the
old signer signed ``::1:PORT``; the emulator refused it with 401 ``APIG.0301``).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from imagewatch.emulator import Emulator, Fleet
from imagewatch.hss.auth import AkSkAuth, IamPasswordAuth, IamScope
from imagewatch.hss.client import HssClient
from imagewatch.hss.errors import HssTransportError
from imagewatch.hss.query import ImageQuery
from support.emulator_support import NOW_MS

Respond = Callable[[socket.socket, bytes], None]
TOKEN_BODY = b'{"token": {"expires_at": "2099-01-01T00:00:00.000Z"}}'


class _Peer:
    """A loopback HTTP/1.1 peer that reads one request per connection and answers with ``respond``."""

    def __init__(self, respond: Respond) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._respond = respond
        self.stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self._listener.accept()
                thread = threading.Thread(target=self._one, args=(client,), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _one(self, client: socket.socket) -> None:
        with client, contextlib.suppress(OSError):
            request = b""
            while b"\r\n\r\n" not in request:
                data = client.recv(65536)
                if not data:
                    return
                request += data
            head, _, body = request.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            while len(body) < length:
                body += client.recv(65536)
            self._respond(client, head.split(b" ")[1])

    def __enter__(self) -> _Peer:
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)


def _answer(client: socket.socket, status: str, body: bytes, token: bool = True) -> None:
    subject = b"X-Subject-Token: tok\r\n" if token else b""
    client.sendall(
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
        + subject
        + b"Connection: close\r\n\r\n"
        + body
    )


def _auth(peer_url: str, **kwargs: object) -> IamPasswordAuth:
    return IamPasswordAuth(peer_url, "u", "p", "d", IamScope(project_id="p1"), **kwargs)  # type: ignore[arg-type]


@contextlib.contextmanager
def _peer(respond: Respond) -> Iterator[_Peer]:
    with _Peer(respond) as peer:
        yield peer


def test_a_deeply_nested_token_answer_is_a_transport_error_not_recursion() -> None:
    """60 KB of ``[`` as the 201 body: the old code let ``RecursionError`` escape the run."""
    deep = _peer(lambda c, path: _answer(c, "201 Created", b"[" * 60_000))
    with deep as peer, httpx.Client() as http, pytest.raises(HssTransportError, match=r"nested (too )?deep"):
        http.get(f"{peer.url}/v5/p1/image/local-repositories", auth=_auth(peer.url))


def test_a_garbage_token_answer_is_a_transport_error() -> None:
    garbage = _peer(lambda c, path: _answer(c, "201 Created", b"\xff\xfe not json"))
    with garbage as peer, httpx.Client() as http, pytest.raises(HssTransportError, match="unreadable"):
        http.get(f"{peer.url}/v5/p1/x", auth=_auth(peer.url))


def test_a_deep_401_body_from_hss_is_returned_not_raised() -> None:
    """The 401 is read for its error_code only; a hostile body is no code at all (old: RecursionError)."""

    def respond(client: socket.socket, path: bytes) -> None:
        if path.startswith(b"/v3/auth/tokens"):
            _answer(client, "201 Created", TOKEN_BODY)
        else:
            _answer(client, "401 Unauthorized", b"[" * 60_000, token=False)

    with _peer(respond) as peer, httpx.Client() as http:
        response = http.get(f"{peer.url}/v5/p1/x", auth=_auth(peer.url))
    assert response.status_code == 401


def test_a_trickling_token_answer_hits_the_total_deadline() -> None:
    """Each byte arrives well within the read timeout, so only a total bound ends it. The monotonic
    clock is a counter (one second per look), so the deadline is met after a few chunks, whatever the
    machine's speed; the old code read all 400 bytes and accepted the token."""
    body = b" " * (400 - len(TOKEN_BODY)) + TOKEN_BODY

    def trickle(client: socket.socket, path: bytes) -> None:
        client.sendall(
            f"HTTP/1.1 201 Created\r\nContent-Length: {len(body)}\r\nX-Subject-Token: tok\r\n\r\n".encode()
        )
        for i in range(len(body)):
            client.sendall(body[i : i + 1])
            if peer.stop.wait(0.005):  # pacing the trickle, not synchronising with the client
                return

    ticks = iter(range(1_000_000))
    with _peer(trickle) as peer, httpx.Client() as http:
        auth = _auth(peer.url, monotonic=lambda: float(next(ticks)), token_deadline_s=5.0)
        with pytest.raises(HssTransportError, match="deadline"):
            http.get(f"{peer.url}/v5/p1/x", auth=auth)
    assert auth.tokens_fetched == 0


def test_an_oversized_token_answer_is_refused_at_the_size_cap() -> None:
    """A 6 MiB answer is refused once 4 MiB are in (old: read whole, whatever its size)."""
    big = b'{"token": {"expires_at": "2099-01-01T00:00:00.000Z", "pad": "' + b"x" * (6 << 20) + b'"}}'
    oversized = _peer(lambda c, path: _answer(c, "201 Created", big))
    with oversized as peer, httpx.Client() as http, pytest.raises(HssTransportError, match="larger than"):
        http.get(f"{peer.url}/v5/p1/x", auth=_auth(peer.url))


def test_the_token_request_carries_timeouts_of_its_own() -> None:
    """httpx does not give a request an auth flow yields the client's timeouts: the token request
    must carry them, its read timeout within the total deadline."""
    request = _auth("http://127.0.0.1:1", token_deadline_s=2.0)._token_request()
    timeout = request.extensions["timeout"]
    assert timeout["read"] == 2.0 and timeout["connect"] == 5.0


def _ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
def test_aksk_client_reads_an_emulator_on_the_ipv6_loopback() -> None:
    """Host goes out as ``[::1]:PORT``; the emulator recomputes the signature over what it received."""
    with Emulator(fleet=Fleet.synthetic(450, seed=3, now_ms=NOW_MS), host="::1") as emu:
        assert emu.url.startswith("http://[::1]:")
        auth = AkSkAuth("DEMOAK", "demo-secret", project_id=emu.project_id)
        with HssClient(emu.url, emu.project_id, auth) as client:
            listing = client.list_images(ImageQuery(enterprise_project_id="all_granted_eps"))
            records = list(listing)
        assert listing.complete
        assert len(records) == len(emu.fleet) == 450
