"""The streaming Evaluator on image rules: violations, their fields, labels and messages."""

from imagewatch.hss.model import Image
from imagewatch.policy import Evaluator, policy_from_mapping
from imagewatch.violation import fingerprint

NOW = 1_793_491_200_000


def high_policy(**extra):
    return policy_from_mapping(
        {
            "id": "high",
            "title": "No High images",
            "severity": "high",
            "select": {"scan_status": "success"},
            "where": {"field": "severity_level", "op": "gte", "value": "High"},
            "message": "{image_name}:{image_version} is {severity_level}, scanned {latest_scan_time}",
            **extra,
        }
    )


def image(name, level, host="host-7", **fields):
    return Image(
        image_name=name,
        image_version="1.25",
        image_id=f"id-{name}",
        host_id=f"hid-{host}",
        host_name=host,
        scan_status="success",
        severity_level=level,
        latest_scan_time=NOW - 1000,
        **fields,
    )


def test_a_violation_carries_policy_subject_label_message_and_fields():
    evaluator = Evaluator([high_policy()], NOW)
    evaluator.add(image("nginx", "High"))
    evaluator.add(image("redis", "Low"))
    result = evaluator.finish()
    assert result.images_seen == 2
    assert len(result.violations) == 1
    violation = result.violations[0]
    assert violation.policy_id == "high"
    assert violation.policy_title == "No High images"
    assert violation.severity == "high"
    # an image subject (the default): the image key, its name:version, and the host it was found on
    assert violation.subject == "id-nginx"
    assert violation.label == "nginx:1.25"
    assert (violation.kind, violation.host, violation.host_name) == ("image", "hid-host-7", "host-7")
    assert violation.message == "nginx:1.25 is High, scanned 2026-10-31T23:59:59Z"
    # message fields first, then those the where reads
    assert violation.fields == {
        "image_name": "nginx",
        "image_version": "1.25",
        "severity_level": "High",
        "latest_scan_time": NOW - 1000,
        "scan_status": "success",
    }
    assert violation.fingerprint == fingerprint("high", "id-nginx")


def test_a_record_subject_names_the_record_and_its_host():
    evaluator = Evaluator([high_policy(subject="record")], NOW)
    evaluator.add(image("nginx", "High"))
    [violation] = evaluator.finish().violations
    assert (violation.subject, violation.label) == ("id-nginx@hid-host-7", "nginx:1.25 on host-7")
    assert (violation.kind, violation.host, violation.host_name) == ("record", "hid-host-7", "host-7")
    assert violation.message == "nginx:1.25 is High, scanned 2026-10-31T23:59:59Z"
    assert violation.fingerprint == fingerprint("high", "id-nginx@hid-host-7")


def test_absent_and_empty_values_render_as_question_marks():
    evaluator = Evaluator([high_policy()], NOW)
    evaluator.add(Image(scan_status="success", severity_level="", latest_scan_time=0))
    [violation] = evaluator.finish().violations
    assert violation.message == "?:? is ?, scanned never"
    assert (violation.subject, violation.label, violation.host, violation.host_name) == (":@", "?:?", "", "")


def test_violations_are_sorted_worst_first_then_by_policy_and_subject():
    low = policy_from_mapping(
        {
            "id": "a-low",
            "title": "t",
            "severity": "low",
            "where": {"field": "vul_num", "op": "gt", "value": 0},
            "message": "{vul_num}",
        }
    )
    evaluator = Evaluator([low, high_policy()], NOW)
    evaluator.add(image("b", "High", vul_num=1))
    evaluator.add(image("a", "High", vul_num=1))
    result = evaluator.finish()
    assert [(v.policy_id, v.subject) for v in result.violations] == [
        ("high", "id-a"),
        ("high", "id-b"),
        ("a-low", "id-a"),
        ("a-low", "id-b"),
    ]


def test_the_evaluator_keeps_no_images():
    evaluator = Evaluator([high_policy()], NOW)
    for n in range(50):
        evaluator.add(image(f"img{n}", "Low"))
    result = evaluator.finish()
    assert result.images_seen == 50
    assert result.violations == []
    held = [item for value in vars(evaluator).values() if isinstance(value, list) for item in value]
    assert not any(isinstance(item, Image) for item in held)


def test_policy_keeps_source_hash_and_select():
    policy = high_policy()
    assert policy.source == "<inline>"
    assert len(policy.sha256) == 64
    assert policy.select.filters() == {"scan_status": "success"}
    assert policy.is_fleet is False
    assert policy.report_fields == (
        "image_name",
        "image_version",
        "severity_level",
        "latest_scan_time",
        "scan_status",
    )


def test_integers_render_zero_and_absent_distinctly():
    policy = policy_from_mapping(
        {
            "id": "counts",
            "title": "t",
            "severity": "info",
            "where": {"field": "image_size", "op": "missing"},
            "message": "{vul_num} vulnerabilities, {malicious_file_num} malicious",
        }
    )
    evaluator = Evaluator([policy], NOW)
    evaluator.add(Image(vul_num=0))
    [violation] = evaluator.finish().violations
    assert violation.message == "0 vulnerabilities, ? malicious"
    assert violation.fields == {"vul_num": 0, "malicious_file_num": None, "image_size": None}


def test_every_exempted_subject_is_told_by_fingerprint_so_its_sla_clock_pauses():
    exempt = [
        {
            "where": {"field": "image_name", "op": "eq", "value": "vendor"},
            "reason": "vendor image",
            "expires": "2099-01-01",
        }
    ]
    told: list[str] = []
    evaluator = Evaluator([high_policy(exempt=exempt)], NOW, exempt_sink=told.append)
    evaluator.add(image("vendor", "High", host="a"))
    evaluator.add(image("vendor", "High", host="b"))
    evaluator.add(image("nginx", "High"))
    result = evaluator.finish()
    assert [v.subject for v in result.violations] == ["id-nginx"]
    assert told == [fingerprint("high", "id-vendor")] * 2
