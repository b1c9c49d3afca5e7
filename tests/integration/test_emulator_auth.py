"""Authentication at the emulator: tokens, AK/SK signed by the official SDK's Signer, IAM password tokens."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import httpx
import pytest

from imagewatch.emulator import Credentials, Emulator, Fleet
from imagewatch.hss import signer
from imagewatch.hss.auth import AkSkAuth, IamPasswordAuth, IamScope
from support.emulator_support import HTTP, loopback_client, sdk_date, sdk_signed


def _error(answer: httpx.Response) -> tuple[int, str, str]:
    body = answer.json()
    return answer.status_code, body["error_code"], body["error_msg"]


# -- tokens ------------------------------------------------------------------------------------------


def test_configured_token_is_accepted(emulator: Emulator):
    assert HTTP.get(emulator.list_url, headers={"X-Auth-Token": "demo-token"}).status_code == 200


def test_unknown_token_is_apig_0301(emulator: Emulator):
    status, code, _ = _error(HTTP.get(emulator.list_url, headers={"X-Auth-Token": "forged"}))
    assert (status, code) == (401, "APIG.0301")


def test_missing_authentication_is_apig_0301(emulator: Emulator):
    status, code, message = _error(HTTP.get(emulator.list_url))
    assert (status, code) == (401, "APIG.0301")
    assert "x-auth-token not found" in message


# -- AK/SK ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        [],
        [("limit", 200), ("offset", 0), ("has_vul", True)],
        [("image_name", "payments/checkout api"), ("limit", 50)],
        [("image_name", "镜像~*'()"), ("host_name", "a+b&c=d")],
        [("sort_key", "unknown, ignored"), ("enterprise_project_id", "all_granted_eps")],
    ],
)
def test_sdk_signed_request_is_accepted(emulator: Emulator, query):
    url, headers = sdk_signed(emulator, query)
    answer = HTTP.get(url, headers=headers)
    assert answer.status_code == 200, answer.text


def test_our_signer_is_accepted(emulator: Emulator):
    auth = AkSkAuth("DEMOAK", "demo-secret", project_id=emulator.project_id, clock=emulator.clock)
    with loopback_client(auth=auth) as client:
        answer = client.get(emulator.list_url, params={"image_name": "a b/c", "has_vul": "true", "limit": 10})
    assert answer.status_code == 200, answer.text


def test_tampered_query_is_rejected(emulator: Emulator):
    url, headers = sdk_signed(emulator, [("limit", 10), ("has_vul", True)])
    answer = HTTP.get(url.replace("has_vul=true", "has_vul=false"), headers=headers)
    status, code, message = _error(answer)
    assert (status, code) == (401, "APIG.0301")
    assert "verify aksk signature fail" in message


def test_tampered_signed_header_is_rejected(emulator: Emulator):
    url, headers = sdk_signed(emulator, [("limit", 10)])
    headers["X-Project-Id"] = "someone-else"
    assert _error(HTTP.get(url, headers=headers))[:2] == (401, "APIG.0301")


def test_wrong_secret_key_is_rejected(emulator: Emulator):
    url, headers = sdk_signed(emulator, [("limit", 10)], sk="not-the-secret")
    assert _error(HTTP.get(url, headers=headers))[:2] == (401, "APIG.0301")


def test_unknown_access_key_is_rejected(emulator: Emulator):
    url, headers = sdk_signed(emulator, [("limit", 10)], ak="OTHERAK")
    status, code, message = _error(HTTP.get(url, headers=headers))
    assert (status, code) == (401, "APIG.0301")
    assert "unknown access key 'OTHERAK'" in message


@pytest.mark.parametrize(
    ("offset_s", "accepted"), [(-16 * 60, False), (-14 * 60, True), (14 * 60, True), (16 * 60, False)]
)
def test_sdk_date_must_be_within_15_minutes(emulator: Emulator, offset_s, accepted):
    url, headers = sdk_signed(emulator, [("limit", 10)], date=sdk_date(emulator.clock() + offset_s))
    answer = HTTP.get(url, headers=headers)
    if accepted:
        assert answer.status_code == 200
    else:
        status, code, message = _error(answer)
        assert (status, code) == (401, "APIG.0301")
        assert "X-Sdk-Date" in message


def test_signature_goes_stale_when_the_emulator_clock_moves(emulator: Emulator, emulator_clock):
    url, headers = sdk_signed(emulator, [("limit", 10)])
    assert HTTP.get(url, headers=headers).status_code == 200
    emulator_clock.advance(15 * 60 + 1)
    assert _error(HTTP.get(url, headers=headers))[:2] == (401, "APIG.0301")


def test_host_must_be_signed(emulator: Emulator):
    path = f"/v5/{emulator.project_id}/image/local-repositories"
    headers = {"X-Sdk-Date": sdk_date(emulator.clock()), "Content-Type": "application/json"}
    names = ["content-type", "x-sdk-date"]
    canonical = signer.canonical_request("GET", path, [], headers, b"", names)
    signature = signer.signature("demo-secret", headers["X-Sdk-Date"], canonical)
    headers["Authorization"] = (
        f"SDK-HMAC-SHA256 Access=DEMOAK, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    status, code, message = _error(HTTP.get(emulator.url + path, headers=headers))
    assert (status, code) == (401, "APIG.0301")
    assert "host" in message


@pytest.mark.parametrize("value", ["Basic abc", "SDK-HMAC-SHA256 Access=DEMOAK", "SDK-HMAC-SHA256 garbage"])
def test_malformed_authorization_is_rejected(emulator: Emulator, value):
    answer = HTTP.get(emulator.list_url, headers={"Authorization": value})
    assert _error(answer)[:2] == (401, "APIG.0301")


def test_security_token_must_match_when_configured(emulator_fleet: Fleet, emulator_clock):
    creds = Credentials(security_token="temporary-session")
    with Emulator(emulator_fleet, creds, clock=emulator_clock) as emu:
        url, headers = sdk_signed(emu, [("limit", 10)])
        assert _error(HTTP.get(url, headers=headers))[:2] == (401, "APIG.0301")
        url, headers = sdk_signed(emu, [("limit", 10)], extra_headers={"X-Security-Token": "wrong"})
        assert _error(HTTP.get(url, headers=headers))[:2] == (401, "APIG.0301")
        url, headers = sdk_signed(
            emu, [("limit", 10)], extra_headers={"X-Security-Token": "temporary-session"}
        )
        assert HTTP.get(url, headers=headers).status_code == 200


def test_secrets_never_appear_in_repr(emulator: Emulator):
    shown = repr(emulator.credentials) + repr(emulator.auth) + repr(emulator)
    for secret in ("demo-secret", "demo-password", "demo-token"):
        assert secret not in shown


# -- IAM /v3/auth/tokens -------------------------------------------------------------------------------


def _password_body(user="demo-user", password="demo-password", domain="demo-domain", scope=None) -> dict:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "password": password, "domain": {"name": domain}}},
            },
            "scope": {"project": scope or {"name": "cn-north-4"}},
        }
    }


def test_iam_password_flow_issues_a_working_token(emulator: Emulator):
    answer = HTTP.post(
        f"{emulator.url}/v3/auth/tokens", json=_password_body(scope={"id": emulator.project_id})
    )
    assert answer.status_code == 201
    assert answer.headers["x-request-id"]
    token = answer.headers["x-subject-token"]
    expires_at = answer.json()["token"]["expires_at"]
    assert expires_at.endswith("Z")
    expires = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    assert expires == datetime.fromtimestamp(emulator.clock() + 24 * 3600, UTC)
    assert HTTP.get(emulator.list_url, headers={"X-Auth-Token": token}).status_code == 200
    assert emulator.stats.by_route == {"iam": 1, "list": 1}


@pytest.mark.parametrize(
    "body",
    [
        _password_body(password="wrong"),
        _password_body(user="intruder"),
        _password_body(domain="other-account"),
        _password_body(scope={"id": "another-project"}),
    ],
)
def test_iam_refuses_wrong_credentials(emulator: Emulator, body):
    answer = HTTP.post(f"{emulator.url}/v3/auth/tokens", json=body)
    assert answer.status_code == 401
    assert "x-subject-token" not in answer.headers
    assert answer.json()["error"]["code"] == 401
    assert answer.json()["error_code"].startswith("IAM.")


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"auth": {"identity": {"methods": ["token"]}}}'])
def test_iam_refuses_malformed_bodies(emulator: Emulator, body):
    answer = HTTP.post(f"{emulator.url}/v3/auth/tokens", content=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == 400


def test_token_lifetime_is_configurable_and_expiry_is_apig_0307(emulator: Emulator, emulator_clock):
    emulator.auth.token_lifetime_s = 60
    answer = HTTP.post(f"{emulator.url}/v3/auth/tokens", json=_password_body())
    token = answer.headers["x-subject-token"]
    expires = datetime.fromisoformat(answer.json()["token"]["expires_at"].replace("Z", "+00:00"))
    assert expires.timestamp() == emulator_clock() + 60
    assert HTTP.get(emulator.list_url, headers={"X-Auth-Token": token}).status_code == 200
    emulator_clock.advance(60)
    status, code, message = _error(HTTP.get(emulator.list_url, headers={"X-Auth-Token": token}))
    assert (status, code) == (401, "APIG.0307")
    assert "token expires" in message


def test_tokens_can_be_minted_directly(emulator: Emulator, emulator_clock):
    token, expires_at = emulator.auth.issue(lifetime_s=5)
    assert expires_at == emulator_clock() + 5
    assert HTTP.get(emulator.list_url, headers={"X-Auth-Token": token}).status_code == 200
    emulator.auth.expire(token)
    assert _error(HTTP.get(emulator.list_url, headers={"X-Auth-Token": token}))[:2] == (401, "APIG.0307")


def test_our_iam_client_gets_and_uses_a_token(emulator: Emulator):
    auth = IamPasswordAuth(
        emulator.url, "demo-user", "demo-password", "demo-domain", IamScope(project_name="cn-north-4"),
        clock=emulator.clock,
    )  # fmt: skip
    with loopback_client(auth=auth) as client:
        assert client.get(emulator.list_url).status_code == 200
        assert client.get(emulator.list_url).status_code == 200
    assert emulator.auth.tokens_issued == 1


def test_body_hash_is_part_of_the_signature(emulator: Emulator):
    """A GET with a body is verified over that body (the SDK hashes what it sends)."""
    assert hashlib.sha256(b"").hexdigest() == signer.EMPTY_BODY_HASH
    url, headers = sdk_signed(emulator, [("limit", 10)])
    assert _error(HTTP.request("GET", url, headers=headers, content=b"{}"))[:2] == (401, "APIG.0301")
