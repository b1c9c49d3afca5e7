"""Review row 9 (issue 12), S3 side: a policy key is written only under the local policy folder.

The review's bucket held ``pol//tmp/x.json``, and the copy wrote ``/tmp/x.json`` (the empty segment
made the rest an absolute path). Against a real moto server on 127.0.0.1.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagewatch.policy_source import PolicySourceError, fetch_policies, local_path
from support.moto_support import REGION
from support.pack import FIXTURE_PACK

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bucket(moto_server) -> Iterator[tuple[object, str]]:
    s3 = moto_server.client("s3")
    name = f"policies-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=name, Key="pol/malicious-files.json",
                  Body=(FIXTURE_PACK / "malicious-files.json").read_bytes())  # fmt: skip
    yield s3, name


def test_a_key_with_an_empty_segment_is_refused_and_nothing_lands_outside(bucket, tmp_path: Path) -> None:
    """Row 9: ``pol//tmp/<name>.json`` (old code: wrote /tmp/<name>.json, outside the policy folder)."""
    s3, name = bucket
    escape = Path(f"/tmp/imagewatch-escape-{uuid.uuid4().hex[:8]}.json")
    s3.put_object(Bucket=name, Key=f"pol/{escape}", Body=json.dumps({"id": "x"}).encode())
    try:
        with pytest.raises(PolicySourceError) as caught:
            fetch_policies(f"s3://{name}/pol/", s3)
        assert not escape.exists()
    finally:
        escape.unlink(missing_ok=True)
    assert str(caught.value) == (
        f"s3://{name}/pol/: refusing key 'pol/{escape}': an empty segment; expected names joined by"
        " single '/', without '.', '..' or backslashes"
    )


@pytest.mark.parametrize(
    ("relative", "says"),
    [
        ("/etc/x.json", "an empty segment"),
        ("a//b.json", "an empty segment"),
        ("a/../../x.json", "the segment '..'"),
        ("./x.json", "the segment '.'"),
        ("..\\x.json", "the segment '..\\\\x.json'"),
        ("a\\..\\..\\x.json", "the segment 'a\\\\..\\\\..\\\\x.json'"),
    ],
)
def test_keys_that_are_not_plain_names_are_refused(tmp_path: Path, relative: str, says: str) -> None:
    """Row 9: absolute, empty, dot and backslash segments are refused (old code: all but '..' passed)."""
    with pytest.raises(ValueError) as caught:
        local_path(tmp_path, relative)
    assert str(caught.value).startswith(f"{says}; expected names joined by single '/'")


def test_a_link_already_in_the_folder_cannot_carry_a_key_outside(tmp_path: Path) -> None:
    """Row 9: the final path is resolved and checked, not only the key's text."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "team").symlink_to(tmp_path)
    with pytest.raises(ValueError, match="it would be written outside"):
        local_path(folder, "team/x.json")
    assert local_path(folder, "team2/x.json") == folder / "team2" / "x.json"


def test_plain_keys_still_load(bucket) -> None:
    s3, name = bucket
    s3.put_object(Bucket=name, Key="pol/team/high-severity.json",
                  Body=(FIXTURE_PACK / "high-severity.json").read_bytes())  # fmt: skip
    folder = fetch_policies(f"s3://{name}/pol/", s3)
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*.json")) == [
        "malicious-files.json",
        "team/high-severity.json",
    ]
