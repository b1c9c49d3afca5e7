"""AWS Security Hub findings as the channel renders them (pure): the ASFF fields, the severity map,
the record state of each ledger status, hostile inventory text, and the size limits."""

from __future__ import annotations

import json
import re

import pytest
from botocore.serialize import create_serializer
from botocore.session import get_session
from botocore.validate import ParamValidator

from imagewatch.alerts.channels import securityhub
from imagewatch.alerts.channels.securityhub import Hub, finding, finding_id, fit
from imagewatch.alerts.delivery import Channel
from imagewatch.alerts.ledger import ChannelRule, LedgerEntry
from imagewatch.alerts.text import utf16_len
from imagewatch.settings import SettingsError
from imagewatch.violation import Violation

HUB = Hub("123456789012", "eu-west-1")
TARGET = "cn-north-4/0123456789abcdef0123456789abcdef/0"
NOW = 1_780_000_000_000
DAY = 86_400_000
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HOSTILE = (
    '<script>alert(1)</script>"><img src=x onerror=alert(2)>\u202etxt.exe\x00\x1b[31m\r\n'
    "see https://evil.example/x and www.evil.example @everyone"
)


def entry(**changes: object) -> LedgerEntry:
    values: dict = {
        "fingerprint": "1e1a66e8b461d3e28117",
        "policy_id": "high-severity",
        "subject": "img-a",
        "severity": "high",
        "label": "shop/a:1.0 on 2 hosts (node-1, node-2)",
        "message": "shop/a:1.0 is rated High with 10 vulnerabilities",
        "status": "open",
        "first_seen": NOW - 3 * DAY,
        "last_seen": NOW,
        "due_at": NOW + 27 * DAY,
    }
    return LedgerEntry(**(values | changes))


def image_violation(**changes: object) -> Violation:
    values: dict = {
        "policy_id": "high-severity",
        "policy_title": "No images rated High severity",
        "severity": "high",
        "subject": "img-a",
        "label": "shop/a:1.0 on 2 hosts (node-1, node-2)",
        "message": "shop/a:1.0 is rated High with 10 vulnerabilities",
        "kind": "image",
        "host": "h1",
        "host_name": "node-1",
        "hosts": 2,
        "host_names": ("node-1", "node-2"),
    }
    return Violation(**(values | changes))


def render(
    e: LedgerEntry | None = None,
    v: Violation | None = None,
    title: str = "No images rated High",
    kind: str = "new",
) -> dict:
    return finding(e or entry(), v, hub=HUB, target=TARGET, title=title, now_ms=NOW, kind=kind)


def sent_bytes(findings: list[dict]) -> int:
    """The request body botocore sends for ``findings`` (its JSON escapes every non-ASCII character)."""
    model = get_session().get_service_model("securityhub").operation_model("BatchImportFindings")
    request = create_serializer("rest-json").serialize_to_request({"Findings": findings}, model)
    return len(request["body"])


def valid_asff(findings: list[dict]) -> None:
    """The request botocore would send: every required field, type and enum of the API's model."""
    operation = get_session().get_service_model("securityhub").operation_model("BatchImportFindings")
    report = ParamValidator().validate({"Findings": findings}, operation.input_shape)
    assert not report.has_errors(), report.generate_report()


def test_an_open_violation_is_an_active_failed_finding_with_every_required_field() -> None:
    document = render(v=image_violation())
    valid_asff([document])
    for name in ("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types", "CreatedAt",
                 "UpdatedAt", "Severity", "Title", "Description", "Resources"):  # fmt: skip
        assert document[name], name
    assert document["SchemaVersion"] == "2018-10-08"
    assert document["Id"] == f"imagewatch/{TARGET}/1e1a66e8b461d3e28117"
    assert document["ProductArn"] == "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default"
    assert document["AwsAccountId"] == "123456789012"
    assert document["GeneratorId"] == "imagewatch/high-severity"
    assert document["RecordState"] == "ACTIVE" and document["Compliance"] == {"Status": "FAILED"}
    assert document["Title"] == "No images rated High: shop/a:1.0 on 2 hosts (node-1, node-2)"
    due = securityhub.iso(NOW + 27 * DAY)[:10]
    assert document["Description"] == f"shop/a:1.0 is rated High with 10 vulnerabilities · due {due}"
    assert all(TIMESTAMP.match(document[name]) for name in ("CreatedAt", "UpdatedAt", "FirstObservedAt"))
    assert document["UpdatedAt"] == securityhub.iso(NOW)
    assert document["CreatedAt"] == securityhub.iso(NOW - 3 * DAY)
    assert document["ProductFields"]["imagewatch/Hosts"] == "2"
    assert document["ProductFields"]["imagewatch/Overdue"] == "false"
    # the customer's fields, which BatchImportFindings may not change after the first import, are never sent
    assert not {"Workflow", "Note", "UserDefinedFields", "VerificationState", "WorkflowState"} & set(document)


def test_resources_are_the_image_and_the_hosts_the_run_names() -> None:
    resources = render(v=image_violation())["Resources"]
    assert [r["Id"] for r in resources] == [
        f"hss/{TARGET}/image/img-a",
        f"hss/{TARGET}/host/node-1",
        f"hss/{TARGET}/host/node-2",
    ]
    assert {r["Type"] for r in resources} == {"Other"}
    assert resources[0]["Details"]["Other"] == {
        "Name": "shop/a:1.0 on 2 hosts (node-1, node-2)",
        "Target": TARGET,
    }
    record = image_violation(kind="record", subject="img-a@h1", hosts=0, host_names=())
    assert [r["Id"] for r in render(entry(subject="img-a@h1"), record)["Resources"]] == [
        f"hss/{TARGET}/image/img-a@h1",
        f"hss/{TARGET}/host/node-1",
    ]
    fleet = render(
        entry(subject="fleet", policy_id="fleet-scan-coverage", label="Coverage"), None, "Coverage"
    )
    assert [r["Id"] for r in fleet["Resources"]] == [f"hss/{TARGET}/fleet/fleet-scan-coverage"]
    assert fleet["Title"] == "Coverage"  # a fleet violation's label is its policy's title: said once


@pytest.mark.parametrize(
    ("severity", "label"),
    [
        ("critical", "CRITICAL"),
        ("high", "HIGH"),
        ("medium", "MEDIUM"),
        ("low", "LOW"),
        ("info", "INFORMATIONAL"),
    ],
)
def test_severity_is_mapped_and_sent_where_a_provider_may_update_it(severity: str, label: str) -> None:
    document = render(entry(severity=severity))
    assert document["Severity"] == {"Label": label, "Original": severity}
    assert document["FindingProviderFields"]["Severity"] == {"Label": label, "Original": severity}
    assert document["FindingProviderFields"]["Types"] == document["Types"]


@pytest.mark.parametrize("kind", ["update", "reminder", "overdue", "resolved"])
def test_after_the_first_import_severity_and_types_go_only_where_a_provider_may_update_them(
    kind: str,
) -> None:
    """AWS: providers should not update the top-level Severity and Types with BatchImportFindings
    (the customer may have changed them); FindingProviderFields carries ours."""
    status = "resolved" if kind == "resolved" else "open"
    document = render(entry(status=status, severity="critical"), kind=kind)
    assert "Severity" not in document and "Types" not in document
    assert document["FindingProviderFields"] == {
        "Severity": {"Label": "CRITICAL", "Original": "critical"},
        "Types": list(securityhub.FINDING_TYPES),
    }
    valid_asff([document])


def test_resolved_findings_are_archived_and_passed_exempted_ones_archived_and_still_failed() -> None:
    resolved = render(entry(status="resolved", resolved_at=NOW - DAY), kind="resolved")
    assert resolved["RecordState"] == "ARCHIVED" and resolved["Compliance"] == {"Status": "PASSED"}
    day = securityhub.iso(NOW - DAY)[:10]
    assert resolved["Description"].startswith(f"Resolved: no longer found on {day}. Was: shop/a:1.0")
    assert resolved["ProductFields"]["imagewatch/ResolvedAt"] == securityhub.iso(NOW - DAY)
    # an accepted violation, not a passed check (PASSED would set its workflow to RESOLVED)
    exempted = render(entry(status="exempted", paused_since=NOW), kind="update")
    assert exempted["RecordState"] == "ARCHIVED" and exempted["Compliance"] == {"Status": "FAILED"}
    assert exempted["Description"].startswith("Exempted: a policy exemption accepts it for now.")
    assert exempted["ProductFields"]["imagewatch/Status"] == "exempted"
    assert render()["Id"] == resolved["Id"] == exempted["Id"]  # one finding, whatever becomes of it
    valid_asff([resolved, exempted])


def test_a_policy_file_that_failed_to_load_is_a_finding_about_the_file() -> None:
    path = "/var/task/policies/broken.json"
    broken = entry(
        policy_id="imagewatch.invalid-policy", subject=path, label=path, message=f"{path} was skipped"
    )
    document = render(broken, None, "Policy file is invalid and was skipped")
    assert document["Resources"] == [
        {
            "Type": "Other",
            "Id": f"imagewatch/{TARGET}/policy-file/{path}",
            "Details": {"Other": {"PolicyFile": path, "Target": TARGET}},
        }
    ]
    valid_asff([document])


def test_the_reserved_policy_id_is_the_runs() -> None:
    from imagewatch import run

    assert securityhub.INVALID_POLICY_ID == run.INVALID_POLICY_ID


def test_an_overdue_violation_says_so() -> None:
    assert render(entry(due_at=NOW - DAY))["ProductFields"]["imagewatch/Overdue"] == "true"
    assert "imagewatch/DueAt" not in render(entry(due_at=None))["ProductFields"]


def test_hostile_inventory_text_is_one_clean_line_defanged_and_within_limits() -> None:
    hostile = entry(label=HOSTILE, message=HOSTILE, subject=HOSTILE)
    document = render(hostile, image_violation(host_names=(HOSTILE,)), title=HOSTILE)
    valid_asff([document])
    text = json.dumps(document, ensure_ascii=False)
    for bad in ("\u202e", "\x00", "\x1b", "\r", "\n", "https://", "www.evil"):
        assert bad not in text, repr(bad)
    assert "https[:]//evil.example" in document["Description"] and "www[.]evil" in document["Title"]
    assert "<script>" in document["Title"]  # data, not markup: Security Hub shows it as text


def test_every_field_is_clipped_to_its_asff_limit_in_utf16_units() -> None:
    wide = "🔥" * 5000  # two UTF-16 units each: a limit counted in code points would be exceeded
    document = render(entry(label=wide, message=wide, subject=wide, policy_id="p" * 900), image_violation(
        host_names=(wide, wide, wide)), title=wide)  # fmt: skip
    valid_asff([document])
    assert utf16_len(document["Title"]) <= 256 and document["Title"].endswith("…")
    assert utf16_len(document["Description"]) <= 1024
    assert utf16_len(document["GeneratorId"]) <= 512
    assert all(utf16_len(r["Id"]) <= 512 for r in document["Resources"])
    assert all(utf16_len(v) <= 1024 for v in document["ProductFields"].values())
    assert all(utf16_len(v) <= 256 for r in document["Resources"] for v in r["Details"]["Other"].values())
    assert len(document["ProductFields"]) <= 50 and len(document["Resources"]) <= 32


def test_the_largest_finding_is_far_below_240_kb_and_a_full_batch_below_6_mb() -> None:
    """Measured as botocore sends it: JSON with every non-ASCII character escaped (a character
    outside the BMP is 12 bytes, ``\\udbff\\udfff``), so the widest text is the worst case."""
    widest = "\U0010ffff" * 10_000
    document = render(
        entry(label=widest, message=widest, subject=widest, policy_id=widest),
        image_violation(host_names=(widest, widest, widest)),
        title=widest,
    )
    size = sent_bytes([document])
    assert size < 42_000, size  # 240 KB per finding
    batch = sent_bytes([document] * securityhub.BATCH)
    assert batch < 4_200_000 < 6_000_000, batch  # 6 MB per request: no byte cap needed
    assert sent_bytes([render()]) < 2_500  # a typical finding


def test_blank_text_gets_a_placeholder_asff_accepts() -> None:
    document = render(entry(label=" \t\u200b ", message="\n\r \x00"), title="  ")
    assert document["Title"].strip() and document["Description"].strip()
    valid_asff([document])
    assert fit("", 10) == "-" and fit("abc", 10) == "abc" and fit("abcdefghijkl", 5) == "abcd…"


def test_a_target_too_long_for_the_id_is_hashed_and_stays_stable() -> None:
    long_target = "x" * 600
    first, again = finding_id(long_target, "fp"), finding_id(long_target, "fp")
    assert first == again and len(first) <= 512 and first.endswith("/fp")
    assert finding_id("a/b/0", "fp") == "imagewatch/a/b/0/fp"


def test_the_product_arn_follows_the_partition() -> None:
    assert Hub("111122223333", "cn-north-1", "aws-cn").product_arn == (
        "arn:aws-cn:securityhub:cn-north-1:111122223333:product/111122223333/default"
    )


def test_the_channel_hears_everything_changes_and_resolutions_and_refreshes_weekly() -> None:
    rule = securityhub.rule()
    assert rule == ChannelRule(
        "securityhub", send_resolved=True, repeat_interval_ms=7 * DAY, min_severity="info", send_updates=True
    )
    made = securityhub.channel([])
    assert made.name == "securityhub" and made.platform is securityhub and made.platform_name == "securityhub"


def test_a_chat_channel_may_not_take_security_hubs_name() -> None:
    chat = Channel("securityhub", securityhub, "https://hooks.example/x", ChannelRule("securityhub"))
    with pytest.raises(SettingsError) as raised:
        securityhub.channel([chat])
    assert str(raised.value).startswith(
        "SECURITY_HUB: got 'on', expected no chat channel named 'securityhub'"
    )


def test_a_dry_run_payload_counts_batches_and_reads_as_text() -> None:
    sample = [{"id": "imagewatch/t/fp", "kind": "new", "severity": "HIGH", "title": "T: a"}]
    payload = securityhub.dry_run_payload({"new": 150, "resolved": 51}, sample)
    assert payload["findings"] == 201 and payload["batches"] == 3
    text = securityhub.to_text(payload)
    assert text.splitlines() == [
        "imagewatch → AWS Security Hub: 201 finding(s) in 3 batch(es) of up to 100 (150 new · 51 resolved)",
        "[new] HIGH · T: a · imagewatch/t/fp",
        "…and 200 more",
    ]


def test_timestamps_keep_the_ledgers_milliseconds() -> None:
    assert securityhub.iso(1_780_000_000_123) == "2026-05-28T20:26:40.123Z"
    assert securityhub.iso(1_780_000_000_999) == "2026-05-28T20:26:40.999Z"
    assert securityhub.iso(0) == "1970-01-01T00:00:00.000Z"
