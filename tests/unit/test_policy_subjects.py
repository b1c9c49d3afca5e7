"""A violation's subject is chosen by the policy: ``image`` (default) or ``record``; fleet rules have none.

Covers the schema and validate errors, the generated builder for both kinds, the image key and its
fallbacks, exemptions keyed by the subject, the evaluator's sink and its bounded exemption bookkeeping,
examples, and the choices of the tests' own pack (a copy of what shipped; policies/ is the user's).
"""

import io
import json
from pathlib import Path

import pytest

from imagewatch.hss.model import IMAGE_FIELDS, Image
from imagewatch.policy import Evaluator, PolicyLoadError, load_policies, policy_from_mapping, validate_cli
from imagewatch.policy.evaluate import SUBJECTS_CAP
from imagewatch.policy.examples import failures
from imagewatch.policy.labels import image_key
from imagewatch.policy.schema import policy_schema
from imagewatch.violation import Violation, fingerprint
from support.pack import FIXTURE_PACK

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_793_491_200_000  # 2026-11-01T00:00:00Z
DAY = 86_400_000


def image_rule(**extra):
    return {
        "id": "vulns",
        "title": "No vulnerable images",
        "severity": "high",
        "where": {"field": "vul_num", "op": "gt", "value": 0},
        "message": "{image_name}:{image_version} has {vul_num}",
        **extra,
    }


def fleet_rule(**extra):
    return {
        "id": "coverage",
        "title": "Scanned",
        "severity": "high",
        "fleet": {
            "count": {"where": {"field": "scan_status", "op": "ne", "value": "success"}},
            "op": "lte",
            "value": 0,
        },
        "message": "{count} unscanned",
        **extra,
    }


def record(host, image_id="img-1", name="nginx", version="1.25", **fields):
    fields.setdefault("vul_num", 3)
    fields.setdefault("scan_status", "success")
    return Image(
        image_name=name,
        image_version=version,
        image_id=image_id,
        host_id=f"hid-{host}",
        host_name=host,
        **fields,
    )


def errors_of(doc):
    with pytest.raises(PolicyLoadError) as caught:
        policy_from_mapping(doc, "p.json")
    return [(e.file, e.pointer, e.message) for e in caught.value.errors]


# --- schema and validation ---------------------------------------------------------------------------


def test_the_schema_offers_image_and_record():
    assert policy_schema()["properties"]["subject"]["enum"] == ["image", "record"]


def test_subject_defaults_to_image_and_record_is_kept():
    assert policy_from_mapping(image_rule()).subject == "image"
    assert policy_from_mapping(image_rule(subject="image")).subject == "image"
    assert policy_from_mapping(image_rule(subject="record")).subject == "record"
    assert policy_from_mapping(fleet_rule()).subject == "fleet"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("imgae", "got \"imgae\", expected one of image, record (did you mean 'image'?)"),
        ("records", "got \"records\", expected one of image, record (did you mean 'record'?)"),
        ("host", 'got "host", expected one of image, record'),
        ("fleet", 'got "fleet", expected one of image, record'),
        (1, "got 1, expected one of image, record"),
        (None, "got null, expected one of image, record"),
    ],
)
def test_an_unknown_subject_names_file_pointer_value_and_choices(value, message):
    assert errors_of(image_rule(subject=value)) == [("p.json", "/subject", message)]


def test_a_fleet_rule_takes_no_subject():
    [(file, pointer, message)] = errors_of(fleet_rule(subject="image"))
    assert (file, pointer) == ("p.json", "/subject")
    assert message.startswith("a fleet rule has no subject")
    assert message.endswith("remove it")


def test_validate_prints_the_subject_error_with_file_and_pointer(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(image_rule(subject="imgae")))
    out = io.StringIO()
    assert validate_cli([str(path)], out) == 2
    lines = out.getvalue().splitlines()
    assert lines == [
        f"{path} /subject: got \"imgae\", expected one of image, record (did you mean 'image'?)",
        "1 file: 0 valid policies, 1 error, 0 warnings",
    ]


# --- the image key -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        (
            {"image_id": "f757", "image_name": "nginx", "image_version": "1.25", "image_digest": "sha256:a"},
            "f757",
        ),
        ({"image_name": "nginx", "image_version": "1.25", "image_digest": "sha256:a"}, "nginx:1.25@sha256:a"),
        (
            {"image_id": "", "image_name": "nginx", "image_version": "1.25", "image_digest": "sha256:a"},
            "nginx:1.25@sha256:a",
        ),
        ({"image_name": "nginx", "image_version": "1.25"}, "nginx:1.25@"),
        ({"image_digest": "sha256:a"}, ":@sha256:a"),
        ({}, ":@"),
    ],
)
def test_image_key_is_the_id_else_name_version_at_digest(fields, key):
    assert image_key(Image(host_id="h1", **fields)) == key
    assert image_key(Image(host_id="h2", host_name="other", **fields)) == key  # never the host


def test_without_an_id_the_same_tag_with_another_digest_is_another_image():
    a = Image(image_name="nginx", image_version="1.25", image_digest="sha256:a", host_id="h1")
    b = Image(image_name="nginx", image_version="1.25", image_digest="sha256:b", host_id="h1")
    assert image_key(a) != image_key(b)


# --- the violation a rule builds ---------------------------------------------------------------------


def build(policy, image) -> Violation:
    assert policy.violation is not None
    return policy.violation(image)


def test_an_image_rule_names_the_image_and_the_host_it_was_found_on():
    policy = policy_from_mapping(image_rule())
    violation = build(policy, record("ecs-a"))
    assert violation.subject == "img-1"
    assert violation.label == "nginx:1.25"
    assert violation.kind == "image"
    assert (violation.host, violation.host_name) == ("hid-ecs-a", "ecs-a")
    assert (violation.hosts, violation.host_names) == (0, ())  # the run side aggregates
    assert violation.message == "nginx:1.25 has 3"
    assert violation.fields == {"image_name": "nginx", "image_version": "1.25", "vul_num": 3}


def test_records_of_one_image_share_an_image_violations_fingerprint():
    policy = policy_from_mapping(image_rule())
    a, b = build(policy, record("ecs-a")), build(policy, record("ecs-b"))
    assert a.fingerprint == b.fingerprint == fingerprint("vulns", "img-1")
    assert (a.host_name, b.host_name) == ("ecs-a", "ecs-b")


def test_an_image_without_an_id_falls_back_to_name_version_digest():
    policy = policy_from_mapping(image_rule())
    violation = build(policy, record("ecs-a", image_id=None, image_digest="sha256:d"))
    assert (violation.subject, violation.label) == ("nginx:1.25@sha256:d", "nginx:1.25")


def test_a_record_rule_names_one_image_on_one_host():
    policy = policy_from_mapping(image_rule(subject="record"))
    a, b = build(policy, record("ecs-a")), build(policy, record("ecs-b"))
    assert (a.subject, a.label, a.kind) == ("img-1@hid-ecs-a", "nginx:1.25 on ecs-a", "record")
    assert (a.host, a.host_name) == ("hid-ecs-a", "ecs-a")
    assert a.fingerprint != b.fingerprint


def test_a_record_without_host_fields_builds_with_empty_host():
    violation = build(policy_from_mapping(image_rule()), Image(image_id="x", vul_num=1))
    assert (violation.host, violation.host_name, violation.label) == ("", "", "?:?")


def test_to_dict_says_the_kind():
    violation = build(policy_from_mapping(image_rule()), record("ecs-a"))
    assert violation.to_dict()["kind"] == "image"


# --- exemptions use the policy's subject -------------------------------------------------------------


def exempting(name="nginx", expires="2027-12-31", **extra):
    where = {"field": "image_name", "op": "eq", "value": name}
    return image_rule(exempt=[{"where": where, "reason": "known", "expires": expires}], **extra)


def evaluate(policy, *images, **options):
    evaluator = Evaluator([policy], NOW, **options)
    for image in images:
        evaluator.add(image)
    return evaluator.finish()


def test_an_image_exemption_lists_the_image_once_however_many_hosts():
    result = evaluate(policy_from_mapping(exempting()), record("ecs-a"), record("ecs-b"), record("ecs-c"))
    assert result.violations == []
    assert [(x.subject, x.label) for x in result.exempted] == [("img-1", "nginx:1.25")]
    assert result.exempted_count == 3


def test_a_record_exemption_lists_each_record():
    policy = policy_from_mapping(exempting(subject="record"))
    result = evaluate(policy, record("ecs-a"), record("ecs-b"), record("ecs-a"))
    assert [(x.subject, x.label) for x in result.exempted] == [
        ("img-1@hid-ecs-a", "nginx:1.25 on ecs-a"),
        ("img-1@hid-ecs-b", "nginx:1.25 on ecs-b"),
    ]
    assert result.exempted_count == 3


def test_a_blanket_exemption_keeps_a_count_and_at_most_the_cap_of_subjects():
    policy = policy_from_mapping(exempting())
    images = [record(f"h{n % 7}", image_id=f"img-{n}") for n in range(SUBJECTS_CAP * 3)]
    result = evaluate(policy, *images)
    assert result.exempted_count == SUBJECTS_CAP * 3
    assert [x.subject for x in result.exempted] == [f"img-{n}" for n in range(SUBJECTS_CAP)]


def test_expired_and_expiring_reports_are_bounded_distinct_and_counted():
    images = [record(f"h{n}", image_id=f"img-{n // 2}") for n in range(20)]  # 10 images on 2 hosts each
    soon = evaluate(policy_from_mapping(exempting(expires="2026-11-05")), *images, subjects_cap=4)
    [report] = soon.expiring_soon
    assert report.subjects == ("img-0", "img-1", "img-2", "img-3")
    assert report.records == 20
    assert len(soon.exempted) == 4 and soon.exempted_count == 20

    expired = evaluate(policy_from_mapping(exempting(expires="2026-10-01")), *images, subjects_cap=4)
    [report] = expired.expired_exemptions
    assert report.subjects == ("img-0", "img-1", "img-2", "img-3")
    assert report.records == 20
    assert len(expired.violations) == 20  # the records still violate; the run merges them per image


def test_an_expired_exemption_that_covers_nothing_reports_zero_records():
    result = evaluate(policy_from_mapping(exempting(name="ghost", expires="2026-01-01")), record("a"))
    [report] = result.expired_exemptions
    assert (report.subjects, report.records) == ((), 0)


# --- the sink ----------------------------------------------------------------------------------------


def test_a_sink_takes_every_image_violation_as_found_and_finish_keeps_only_fleet_ones():
    found: list[Violation] = []
    policies = [policy_from_mapping(image_rule()), policy_from_mapping(fleet_rule())]
    evaluator = Evaluator(policies, NOW, sink=found.append)
    evaluator.add(record("ecs-a", scan_status="failed"))
    assert [v.host_name for v in found] == ["ecs-a"]  # as found, not at finish
    evaluator.add(record("ecs-b", image_id="img-2"))
    evaluator.add(record("ecs-c", vul_num=0))
    result = evaluator.finish()
    assert [(v.subject, v.host_name) for v in found] == [("img-1", "ecs-a"), ("img-2", "ecs-b")]
    assert [v.subject for v in result.violations] == ["fleet"]
    assert result.images_seen == 3


def test_a_sink_also_receives_violations_of_rules_with_exemptions():
    found: list[Violation] = []
    policy = policy_from_mapping(exempting(name="redis"))
    result = evaluate(policy, record("a"), record("b", name="redis", image_id="r"), sink=found.append)
    assert [v.subject for v in found] == ["img-1"]
    assert result.violations == []
    assert [x.subject for x in result.exempted] == ["r"]


def test_without_a_sink_violations_are_returned_as_before():
    result = evaluate(policy_from_mapping(image_rule()), record("ecs-b"), record("ecs-a"))
    assert [v.host_name for v in result.violations] == ["ecs-b", "ecs-a"]  # one per record, stable sort


# --- examples ----------------------------------------------------------------------------------------


def test_examples_are_judged_per_record_under_either_subject():
    examples = [
        {"expect": "violation", "image": {"image_name": "nginx", "vul_num": 2, "host_name": "a"}},
        {"expect": "pass", "image": {"image_name": "nginx", "vul_num": 0}},
        {"expect": "exempt", "image": {"image_name": "nginx", "vul_num": 2, "image_id": "x"}},
    ]
    exempt = [{"where": {"field": "image_id", "op": "eq", "value": "x"}, "reason": "r", "expires": "never"}]
    for subject in ("image", "record"):
        policy = policy_from_mapping(image_rule(subject=subject, examples=examples, exempt=exempt))
        assert failures([policy]) == (3, [])


def test_a_wrong_expectation_still_fails_under_image_subjects():
    examples = [{"expect": "pass", "image": {"image_name": "nginx", "vul_num": 2}}]
    policy = policy_from_mapping(image_rule(examples=examples))
    total, failed = failures([policy])
    assert total == 1
    assert [f.actual for f in failed] == ["violation"]


# --- the pack imagewatch shipped with (the fixture copy) ----------------------------------------------------


PER_RECORD_FIELDS = ("host_name", "host_id", "agent_id")


def test_the_shipped_pack_says_which_subject_each_rule_judges():
    loaded = load_policies(FIXTURE_PACK)
    assert loaded.errors == []
    subjects = {p.id: p.subject for p in loaded.policies}
    assert subjects == {
        "fleet-scan-coverage": "fleet",
        "high-severity": "image",
        "malicious-files": "image",
        "medium-severity-vulns": "image",
        "other-images-clean": "image",
        "scan-failed": "record",
        "scan-freshness": "image",
        "unsafe-settings": "image",
    }
    for path in sorted(FIXTURE_PACK.glob("*.json")):
        doc = json.loads(path.read_text())
        if "fleet" in doc:
            assert "subject" not in doc, path.name
            continue
        assert doc["subject"] in ("image", "record"), path.name  # said out loud, not defaulted
        assert f"Subject {doc['subject']}:" in doc["description"], path.name  # with the reason


def test_shipped_image_rules_do_not_put_one_hosts_value_in_an_images_message():
    for policy in load_policies(FIXTURE_PACK).policies:
        if policy.subject == "image":
            assert not set(policy.message.fields) & set(PER_RECORD_FIELDS), policy.id
    assert all(name in IMAGE_FIELDS for name in PER_RECORD_FIELDS)


def test_shipped_scan_failed_is_one_violation_per_host():
    policy = next(p for p in load_policies(FIXTURE_PACK).policies if p.id == "scan-failed")
    failed = {"scan_status": "failed", "scan_failed_desc": "failed_to_match_agent"}
    a = build(policy, record("node-8", **failed))
    b = build(policy, record("node-9", **failed))
    assert a.kind == "record" and a.subject != b.subject
    assert a.label == "nginx:1.25 on node-8"
    assert a.message == "Scan of nginx:1.25 on node-8 failed: failed_to_match_agent"
