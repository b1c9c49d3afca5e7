"""AK/SK signing for IPv6 and IDN endpoints: the signature must cover the Host header that is sent.

Reproduces the review finding "Signer, IPv6/IDN endpoints": ``AkSkAuth`` signed ``url.host`` (``::1``
without brackets, ``例え.jp`` decoded to unicode) while httpx sends ``Host: [::1]:8443`` /
``xn--r8jz45g.jp:8443``, so the gateway's recomputation failed. The ``[::1]`` and ``例え.jp`` cases fail
on the old code; ``hss.例え.jp`` already passed there (httpx keeps a host whose first label is ASCII in
punycode), and stays here as the brief's example.
"""

from __future__ import annotations

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from imagewatch.emulator.auth import Authenticator, Credentials, Granted
from imagewatch.hss import signer
from imagewatch.hss.auth import AkSkAuth

NOW = 1704067200.0  # 2024-01-01T00:00:00Z
PATH = "/v5/p1/image/local-repositories"
QUERY = [("has_vul", "true"), ("limit", "200"), ("offset", "0")]


def _signed(url: str) -> httpx.Request:
    request = httpx.Request("GET", f"{url}{PATH}?{signer.encode_query(QUERY)}")
    AkSkAuth("AKEXAMPLE", "SKEXAMPLE/secret", project_id="p1", clock=lambda: NOW).sign(request)
    return request


def _sdk_authorization(host: str) -> str:
    request = SdkRequest(
        method="GET",
        schema="https",
        host=host,
        resource_path=PATH,
        query_params=list(QUERY),
        header_params={
            "X-Sdk-Date": "20240101T000000Z",
            "Content-Type": "application/json",
            "X-Project-Id": "p1",
        },
    )
    Signer(BasicCredentials("AKEXAMPLE", "SKEXAMPLE/secret")).sign(request)
    return request.header_params["Authorization"]


@pytest.mark.parametrize(
    ("url", "sent_host"),
    [
        ("https://[::1]:8443", "[::1]:8443"),
        ("http://[::1]", "[::1]"),
        ("https://[fe80::1]:443", "[fe80::1]"),  # the default port is not sent, nor signed
        ("https://例え.jp:8443", "xn--r8jz45g.jp:8443"),
        ("https://hss.例え.jp:8443", "hss.xn--r8jz45g.jp:8443"),
    ],
)
def test_signature_equals_the_sdk_signer_over_the_host_sent(url: str, sent_host: str) -> None:
    """The SDK's Signer, given the host string that goes on the wire, computes our Authorization."""
    request = _signed(url)
    assert request.headers["Host"] == sent_host
    assert request.headers["Authorization"] == _sdk_authorization(sent_host)


@pytest.mark.parametrize("url", ["https://hss.例え.jp:8443", "https://例え.jp:8443", "https://[::1]:8443"])
def test_the_gateways_recomputation_over_the_sent_headers_verifies(url: str) -> None:
    """Recompute as the emulator's verifier does, over exactly the headers and path that were sent."""
    request = _signed(url)
    assert request.headers["Host"].isascii()
    _access, names, claimed = signer.parse_authorization(request.headers["Authorization"])
    assert "host" in names
    path, _, raw_query = request.url.raw_path.decode().partition("?")
    headers = dict(request.headers)
    assert signer.verify(
        "SKEXAMPLE/secret", "GET", path, signer.split_query(raw_query), headers, names, claimed
    )
    verifier = Authenticator(
        Credentials(project_id="p1", access_key="AKEXAMPLE", secret_key="SKEXAMPLE/secret")
    )
    verifier.clock = lambda: NOW
    assert verifier.check("GET", path, raw_query, headers) == Granted("aksk")


def test_a_host_header_set_by_the_caller_is_the_one_signed() -> None:
    """A caller that overrides Host (a proxy's virtual host) gets that value signed and sent."""
    request = httpx.Request(
        "GET", f"https://127.0.0.1:8443{PATH}", headers={"Host": "hss.cn-north-4.myhuaweicloud.com"}
    )
    AkSkAuth("AKEXAMPLE", "SKEXAMPLE/secret", clock=lambda: NOW).sign(request)
    _access, names, claimed = signer.parse_authorization(request.headers["Authorization"])
    assert signer.verify("SKEXAMPLE/secret", "GET", PATH, [], dict(request.headers), names, claimed)
    assert request.headers["Host"] == "hss.cn-north-4.myhuaweicloud.com"
