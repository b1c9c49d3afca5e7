"""Our SDK-HMAC-SHA256 signer against huaweicloudsdkcore's Signer, byte for byte."""

from __future__ import annotations

import random

import httpx
import pytest
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer

from imagewatch.hss import signer
from imagewatch.hss.auth import AkSkAuth

ODD = [
    "",
    " ",
    "a b",
    "a+b",
    "ä/ö",
    "~tilde",
    "x=y&z",
    "%41",
    "中文",
    "*",
    "'\"",
    "semi;colon",
    "#hash",
    "tab\t",
]


def sdk_sign(host: str, path: str, query: list[tuple[str, str]], headers: dict[str, str]) -> tuple[str, str]:
    request = SdkRequest(
        method="GET",
        schema="https",
        host=host,
        resource_path=path,
        query_params=list(query),
        header_params=dict(headers),
    )
    Signer(BasicCredentials("AKEXAMPLE", "SKEXAMPLE/secret")).sign(request)
    return request.header_params["Authorization"], request.uri


def random_request(rng: random.Random) -> tuple[str, str, list[tuple[str, str]], dict[str, str]]:
    host = rng.choice(["hss.cn-north-4.myhuaweicloud.com", "127.0.0.1:8080", "localhost:65535", "h:1"])
    project = rng.choice(["p1", "proj 2", "a~b", "0123456789abcdef"])
    path = f"/v5/{project}/image/local-repositories"
    keys = ["image_name", "host_name", "limit", "offset", "has_vul", "app_name", "a", "b"]
    query = []
    for _ in range(rng.randint(0, 6)):
        key = rng.choice(keys)
        query.append((key, rng.choice([*ODD, "true", "false", str(rng.randint(0, 2_000_000))])))
    if rng.random() < 0.3 and query:
        query.append((query[0][0], rng.choice(ODD)))  # a repeated parameter
    headers = {"X-Sdk-Date": "20240101T000000Z", "Content-Type": "application/json", "Host": host}
    if rng.random() < 0.5:
        headers["X-Project-Id"] = project
    if rng.random() < 0.3:
        headers["X-Security-Token"] = "  token with spaces  "
    if rng.random() < 0.2:
        headers["X_Underscore"] = "not signed"
    return host, path, query, headers


@pytest.mark.parametrize("seed", range(300))
def test_authorization_matches_sdk_signer(seed: int) -> None:
    host, path, query, headers = random_request(random.Random(seed))
    expected_auth, expected_uri = sdk_sign(host, path, query, headers)
    ours = signer.authorization("AKEXAMPLE", "SKEXAMPLE/secret", "GET", path, query, headers)
    assert ours == expected_auth
    wire_query = signer.encode_query(query)
    assert (f"{path}?{wire_query}" if wire_query else path) == expected_uri


def test_sdk_example_from_the_reference() -> None:
    query = [("limit", "200"), ("offset", "0"), ("has_vul", "true")]
    headers = {
        "X-Sdk-Date": "20240101T000000Z",
        "Content-Type": "application/json",
        "X-Project-Id": "p1",
        "Host": "hss.cn-north-4.myhuaweicloud.com",
    }
    expected, _ = sdk_sign(
        "hss.cn-north-4.myhuaweicloud.com", "/v5/p1/image/local-repositories", query, headers
    )
    assert (
        signer.authorization(
            "AKEXAMPLE", "SKEXAMPLE/secret", "GET", "/v5/p1/image/local-repositories", query, headers
        )
        == expected
    )
    assert "SignedHeaders=content-type;host;x-project-id;x-sdk-date," in expected


@pytest.mark.parametrize("host", ["hss.cn-north-4.myhuaweicloud.com", "127.0.0.1:8080"])
def test_httpx_auth_signs_what_it_sends(host: str) -> None:
    """The AkSkAuth flow's header equals the SDK's for the same request as it goes on the wire."""
    query = [("image_name", "nginx web"), ("limit", "200"), ("has_vul", "true")]
    url = f"https://{host}/v5/p1/image/local-repositories?{signer.encode_query(query)}"
    request = httpx.Request("GET", url)
    AkSkAuth("AKEXAMPLE", "SKEXAMPLE/secret", project_id="p1", clock=lambda: 1704067200.0).sign(request)
    assert request.headers["X-Sdk-Date"] == "20240101T000000Z"
    headers = {
        "X-Sdk-Date": "20240101T000000Z",
        "Content-Type": "application/json",
        "X-Project-Id": "p1",
        "Host": host,
    }
    expected, uri = sdk_sign(host, "/v5/p1/image/local-repositories", query, headers)
    assert request.headers["Authorization"] == expected
    assert request.url.raw_path.decode() == uri


def test_verify_accepts_own_signature_and_rejects_tampering() -> None:
    query = [("limit", "200")]
    headers = {"X-Sdk-Date": "20240101T000000Z", "Host": "127.0.0.1:1"}
    value = signer.authorization("AK", "SK", "GET", "/v5/p/x", query, headers)
    access, names, claimed = signer.parse_authorization(value)
    assert access == "AK" and names == ["host", "x-sdk-date"]
    assert signer.verify("SK", "GET", "/v5/p/x", query, headers, names, claimed)
    assert not signer.verify("SK", "GET", "/v5/p/x", [("limit", "10")], headers, names, claimed)
    assert not signer.verify("other", "GET", "/v5/p/x", query, headers, names, claimed)


def test_secrets_stay_out_of_repr() -> None:
    auth = AkSkAuth("AKEXAMPLE", "SKEXAMPLE/secret", security_token="TOKEN-SECRET")
    text = repr(auth)
    assert "SKEXAMPLE" not in text and "TOKEN-SECRET" not in text and "AKEXAMPLE" not in text
