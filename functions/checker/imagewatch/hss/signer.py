"""Huawei Cloud ``SDK-HMAC-SHA256`` request signing, as pure functions.

Byte-for-byte the algorithm of ``huaweicloudsdkcore.signer.signer.Signer`` (tests compare the two on
generated requests). Used by the client's AK/SK auth to sign, and by the emulator to verify.

The query string put on the wire is the canonical one (pairs sorted, each side ``quote(x, safe='~')``),
as the SDK does, so that what is signed is exactly what is sent.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_BODY_HASH = hashlib.sha256(b"").hexdigest()

# Compiled on first use (``re`` caches it): only the emulator parses Authorization headers.
_AUTH_PATTERN = (
    r"^SDK-HMAC-SHA256\s+Access=(?P<access>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-fA-F]+)$"
)


def _encode(text: str) -> str:
    return quote(text, safe="~")


def encode_query(pairs: Iterable[tuple[str, str]]) -> str:
    """The canonical query string: pairs sorted, both sides percent-encoded (space → %20)."""
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(pairs))


def split_query(raw: str) -> list[tuple[str, str]]:
    """Parse a raw query string into decoded pairs, keeping empty values (``+`` stays ``+``)."""
    pairs = []
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


def canonical_uri(path: str) -> str:
    """Each path segment percent-encoded, with the trailing ``/`` the algorithm adds."""
    uri = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """Lower-case names of the headers that get signed: all but those with ``_`` in the name."""
    return sorted(name.lower() for name in headers if "_" not in name)


def canonical_request(
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes = b"",
    signed: list[str] | None = None,
) -> str:
    """The canonical request; ``signed`` (lower-case names) defaults to every signable header."""
    lowered = {name.lower(): str(value).strip() for name, value in headers.items()}
    names = signed if signed is not None else signed_header_names(headers)
    canonical_headers = "".join(f"{name}:{lowered.get(name, '')}\n" for name in names)
    body_hash = hashlib.sha256(body).hexdigest() if body else EMPTY_BODY_HASH
    return "\n".join(
        (
            method.upper(),
            canonical_uri(path),
            encode_query(query),
            canonical_headers,
            ";".join(names),
            body_hash,
        )
    )


def signature(secret_key: str, sdk_date: str, canonical: str) -> str:
    """Hex HMAC-SHA256 over the string to sign."""
    to_sign = f"{ALGORITHM}\n{sdk_date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret_key.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(
    access_key: str,
    secret_key: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes = b"",
) -> str:
    """The ``Authorization`` header value. ``headers`` must already hold ``X-Sdk-Date`` and ``Host``."""
    sdk_date = next((str(v) for k, v in headers.items() if k.lower() == "x-sdk-date"), None)
    if sdk_date is None:
        raise ValueError("headers must carry X-Sdk-Date before signing")
    names = signed_header_names(headers)
    canonical = canonical_request(method, path, query, headers, body, names)
    return (
        f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(names)}, "
        f"Signature={signature(secret_key, sdk_date, canonical)}"
    )


def parse_authorization(value: str) -> tuple[str, list[str], str] | None:
    """Split an ``Authorization`` value into (access key, signed header names, signature)."""
    match = re.match(_AUTH_PATTERN, value.strip())
    if match is None:
        return None
    return match["access"], match["signed"].split(";"), match["signature"].lower()


def verify(
    secret_key: str,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed: list[str],
    claimed: str,
    body: bytes = b"",
) -> bool:
    """Recompute a signature over the named headers and compare in constant time."""
    lowered = {k.lower(): v for k, v in headers.items()}
    sdk_date = lowered.get("x-sdk-date", "")
    canonical = canonical_request(method, path, query, lowered, body, signed)
    return hmac.compare_digest(signature(secret_key, sdk_date, canonical), claimed)
