"""checkov, offline, on template.yaml and on the CloudFormation the SAM translator makes of it.

A new checkov finding fails the suite. A finding the product accepts is skipped in template.yaml
itself, on the resource, with checkov's inline comment ``# checkov:skip=CKV_AWS_N: reason``; the
skips are listed below so that adding one is a reviewed change, and docs/deployment.md explains each.

checkov runs once per module, as its own command (it lives in .venv/checkov: its pins would
downgrade the suite's boto3, see the Makefile), on every file at once: the template, its translation
in both modes, and mutants of the template that each break one property checkov must then report.
``--skip-download`` and no API key: nothing leaves the machine.

What checkov does not do: it does not evaluate ``Fn::If`` in properties, so a property that is a
customer managed key only when ``KmsKeyArn`` is set passes its check either way. The security tests
(test_template_security.py) check both branches on the resolved stack.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_template import MANY, ROOT, TEMPLATE, translated

DOCS = ROOT / "docs" / "deployment.md"

# (check id, resource) -> the gist of the reason. The reason itself is the skip comment in
# template.yaml (checkov reports it); docs/deployment.md says more.
ACCEPTED_SKIPS: dict[tuple[str, str], str] = {
    ("CKV_AWS_117", "CheckerFunction"): "no VPC: internet endpoints would need a NAT gateway",
    ("CKV_AWS_116", "CheckerFunction"): "no DLQ: the OnFailure destination already captures failures",
    ("CKV_AWS_18", "ReportBucket"): "no access-log bucket: CloudTrail S3 data events instead",
}
# Resources checkov must have looked at (a parse that silently dropped them would pass otherwise).
EXPECTED_RESOURCES = {
    "CheckerFunction",
    "CheckerLogGroup",
    "CheckerRole",
    "SchedulerRole",
    "LedgerTable",
    "ReportBucket",
    "SettingsSecret",
    "FailureQueue",
    "SchedulerDeadLetterQueue",
}
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=(CKV2?_[A-Z]+_\d+)\s*:\s*(.*)$")


@dataclass(frozen=True)
class Finding:
    check_id: str
    resource: str  # "AWS::SQS::Queue.FailureQueue"
    name: str
    lines: tuple[int, int] | None
    reason: str = ""

    @property
    def logical_id(self) -> str:
        return self.resource.rsplit(".", 1)[-1]

    def __str__(self) -> str:
        where = f" (lines {self.lines[0]}-{self.lines[1]})" if self.lines else ""
        return f"{self.check_id} {self.resource}{where}: {self.name}"


@dataclass
class FileResults:
    passed: list[Finding]
    failed: list[Finding]
    skipped: list[Finding]

    def resources(self) -> set[str]:
        return {f.logical_id for f in self.passed + self.failed + self.skipped}


def _mutant(find: str, replace: str, count: int = 1) -> str:
    source = TEMPLATE.read_text()
    assert source.count(find) == count, f"mutation target {find!r} not found {count} time(s) in template.yaml"
    return source.replace(find, replace)


def _drop_line(containing: str) -> str:
    lines = TEMPLATE.read_text().splitlines(keepends=True)
    kept = [line for line in lines if containing not in line]
    assert len(kept) == len(lines) - 1, f"expected one line containing {containing!r}"
    return "".join(kept)


def _failure_queue_unencrypted() -> str:
    source = TEMPLATE.read_text()
    start = source.index("  FailureQueue:\n")
    end = source.index("\n\n", start)
    block = source[start:end]
    stripped = "\n".join(line for line in block.splitlines() if "Sse" not in line and "KmsMaster" not in line)
    assert stripped != block
    return source[:start] + stripped + source[end:]


# file name -> its text. Each mutant breaks one thing; MUTANT_FINDINGS says what checkov must report.
MUTANTS: dict[str, Any] = {
    "mutant-queue-unencrypted.yaml": _failure_queue_unencrypted,
    "mutant-bucket-unversioned.yaml": lambda: _mutant(
        "      VersioningConfiguration:\n        Status: Enabled\n", ""
    ),
    "mutant-vpc-skip-removed.yaml": lambda: _drop_line("checkov:skip=CKV_AWS_117"),
}
MUTANT_FINDINGS: dict[str, tuple[str, str]] = {
    "mutant-queue-unencrypted.yaml": ("CKV_AWS_27", "AWS::SQS::Queue.FailureQueue"),
    "mutant-bucket-unversioned.yaml": ("CKV_AWS_21", "AWS::S3::Bucket.ReportBucket"),
    "mutant-vpc-skip-removed.yaml": ("CKV_AWS_117", "AWS::Serverless::Function.CheckerFunction"),
}


def checkov_command() -> str:
    """$CHECKOV, else the tool venv `make install` creates, else checkov on PATH."""
    for candidate in (os.environ.get("CHECKOV"), str(ROOT / ".venv" / "checkov" / "bin" / "checkov")):
        if candidate and Path(candidate).is_file():
            return candidate
    found = shutil.which("checkov")
    if found is None:
        pytest.fail(
            "checkov is not installed: `make install` puts it in .venv/checkov "
            "(or set CHECKOV to a checkov executable)"
        )
    return found


def _finding(entry: dict[str, Any]) -> Finding:
    lines = entry.get("file_line_range")
    return Finding(
        check_id=entry["check_id"],
        resource=entry["resource"],
        name=entry["check_name"],
        lines=(lines[0], lines[1]) if lines else None,
        reason=(entry.get("check_result") or {}).get("suppress_comment") or "",
    )


def _translated_targets() -> dict[str, Any]:
    """Many targets: checkov drops resources whose Condition is false under the parameter defaults,
    so TargetsJson gets a default here (as the cfn-lint test of that mode does)."""
    template = translated(**MANY)
    template["Parameters"]["TargetsJson"]["Default"] = MANY["TargetsJson"]
    return template


@pytest.fixture(scope="module")
def scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FileResults]:
    folder = tmp_path_factory.mktemp("checkov")
    files = {
        "template.yaml": TEMPLATE.read_text(),
        "translated-one-target.json": json.dumps(translated(), indent=1),
        "translated-many-targets.json": json.dumps(_translated_targets(), indent=1),
        **{name: make() for name, make in MUTANTS.items()},
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    command = [checkov_command(), "--framework", "cloudformation", "--skip-download", "--output", "json"]
    for name in files:
        command += ["--file", name]
    # No platform key, no proxy settings: nothing is uploaded or downloaded.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_", "CKV_"))}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    print(f"\ncheckov on {len(files)} files took {elapsed:.1f} s")
    # Exit code 1 means "some check failed" (the mutants make sure of that); anything else is a crash.
    assert done.returncode in (0, 1), f"checkov exited {done.returncode}:\n{done.stderr[-4000:]}"
    report = json.loads(done.stdout)
    reports = report if isinstance(report, list) else [report]
    (cloudformation,) = [r for r in reports if r.get("check_type") == "cloudformation"]
    summary = cloudformation["summary"]
    assert summary["parsing_errors"] == 0, f"checkov could not parse: {summary}"
    results: dict[str, FileResults] = {name: FileResults([], [], []) for name in files}
    for kind in ("passed", "failed", "skipped"):
        for entry in cloudformation["results"][f"{kind}_checks"]:
            getattr(results[Path(entry["file_path"]).name], kind).append(_finding(entry))
    return results


def _listing(findings: list[Finding]) -> str:
    return "\n".join(f"  {f}" for f in findings)


def template_skips() -> dict[tuple[str, str], str]:
    """The ``# checkov:skip`` comments of template.yaml, by (check id, resource logical id)."""
    skips: dict[tuple[str, str], str] = {}
    resource, in_resources = None, False
    for line in TEMPLATE.read_text().splitlines():
        if re.match(r"^\S", line):
            in_resources = line.startswith("Resources:")
        elif in_resources and (m := re.match(r"^  ([A-Za-z0-9]+):\s*$", line)):
            resource = m.group(1)
        if (m := SKIP_COMMENT.search(line)) and resource:
            skips[(m.group(1), resource)] = m.group(2).strip()
    return skips


# --- the template ------------------------------------------------------------------------------------


def test_checkov_finds_nothing_in_the_template(scan: dict[str, FileResults]) -> None:
    results = scan["template.yaml"]
    assert results.failed == [], (
        "checkov found (fix the template, or skip on the resource with "
        "`# checkov:skip=CKV_…: reason` and add it to ACCEPTED_SKIPS and docs/deployment.md):\n"
        + _listing(results.failed)
    )
    assert results.resources() >= EXPECTED_RESOURCES, EXPECTED_RESOURCES - results.resources()
    # The SAM resource itself was checked (checkov reads the Transform's Serverless types).
    assert any(f.resource == "AWS::Serverless::Function.CheckerFunction" for f in results.passed)
    assert len(results.passed) >= 30


def test_checkov_skips_are_the_accepted_ones_each_with_a_reason(scan: dict[str, FileResults]) -> None:
    skipped = {(f.check_id, f.logical_id): f.reason.strip() for f in scan["template.yaml"].skipped}
    assert set(skipped) == set(ACCEPTED_SKIPS), "skips in template.yaml differ from ACCEPTED_SKIPS"
    assert skipped == template_skips()
    docs = DOCS.read_text()
    for (check_id, resource), reason in skipped.items():
        assert len(reason) >= 60, f"{check_id} on {resource}: say why, specifically ({reason!r})"
        assert check_id in docs, f"{check_id} is skipped but docs/deployment.md does not explain it"


# --- what SAM makes of it -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["translated-one-target.json", "translated-many-targets.json"])
def test_checkov_finds_nothing_new_in_the_translated_template(
    scan: dict[str, FileResults], name: str
) -> None:
    """The translation has no comments, so the accepted findings fail there, on the resources they
    came from (SAM keeps the logical ids); anything else is a finding in what SAM generated."""
    results = scan[name]
    unexpected = [f for f in results.failed if (f.check_id, f.logical_id) not in ACCEPTED_SKIPS]
    assert unexpected == [], f"checkov on the SAM-translated template ({name}):\n" + _listing(unexpected)
    assert {(f.check_id, f.logical_id) for f in results.failed} == set(ACCEPTED_SKIPS)
    assert any(f.resource == "AWS::Lambda::Function.CheckerFunction" for f in results.passed)
    assert results.resources() >= EXPECTED_RESOURCES
    if "many" in name:
        assert "StateMachineRole" in results.resources(), "the many-targets resources were not scanned"


# --- the scan can fail ----------------------------------------------------------------------------


@pytest.mark.parametrize("mutant", sorted(MUTANT_FINDINGS))
def test_checkov_reports_a_broken_template(scan: dict[str, FileResults], mutant: str) -> None:
    check_id, resource = MUTANT_FINDINGS[mutant]
    assert not any((f.check_id, f.resource) == (check_id, resource) for f in scan["template.yaml"].failed), (
        "already failing before the mutation"
    )
    failed = scan[mutant].failed
    assert any((f.check_id, f.resource) == (check_id, resource) for f in failed), (
        f"checkov missed {check_id} on {resource} in {mutant}; it found:\n{_listing(failed)}"
    )
