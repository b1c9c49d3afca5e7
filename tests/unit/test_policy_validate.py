"""validate_cli: every error at once, with file and pointer; exit code 2 (a configuration error) on any."""

import io
import json
import re
from pathlib import Path

from imagewatch.hss.model import IMAGE_FIELDS
from imagewatch.hss.query import FILTER_PARAMS
from imagewatch.policy import validate_cli
from support.pack import FIXTURE_PACK, SHIPPED_PACK

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "fixtures" / "policies_broken"


NOW = 1_780_000_000_000  # 2026-05-28: exemptions are dated against a fixed moment, not the day it runs


def run(paths):
    out = io.StringIO()
    code = validate_cli([str(p) for p in paths], out, now_ms=NOW)
    return code, out.getvalue().splitlines()


def test_the_shipped_pack_is_valid():
    """policies/ is the user's: whatever it holds (subfolders too), every file is a valid policy."""
    code, lines = run([SHIPPED_PACK])
    assert code == 0, lines
    summary = re.fullmatch(r"(\d+) files?: (\d+) valid polic(?:y|ies), 0 errors, \d+ warnings?", lines[-1])
    assert summary, lines
    files, valid = summary.groups()
    assert files == valid != "0"


def test_the_fixture_pack_is_valid():
    code, lines = run([FIXTURE_PACK])
    assert code == 0
    assert lines == ["8 files: 8 valid policies, 0 errors, 0 warnings"]


def test_broken_policies_print_every_error_and_fail():
    code, lines = run([BROKEN])
    assert code == 2
    assert lines[-1] == "32 files: 1 valid policy, 31 errors, 0 warnings"
    assert (
        f'{BROKEN / "bad_regex.json"} /where/value: got "nginx(", expected a valid regular expression'
        in lines[1]
    )
    assert f"{BROKEN / 'malformed.json'}:4:3 /: malformed JSON: Expecting ',' delimiter" in lines
    assert len(lines) == 32


def test_one_file_with_several_errors(tmp_path):
    policy = {
        "id": "p",
        "title": "t",
        "severity": "severe",
        "message": "{image}",
        "select": {"has_vul": "yes", "limit": 10},
        "where": {
            "any": [{"field": "vul_num", "op": "gt", "value": "many"}, {"field": "image_nme", "op": "eq"}]
        },
    }
    path = tmp_path / "p.json"
    path.write_text(json.dumps(policy))
    code, lines = run([path])
    assert code == 2
    assert lines == [
        f'{path} /select/has_vul: got "yes", expected a boolean',
        f'{path} /severity: got "severe", expected one of critical, high, medium, low, info',
        f'{path} /where/any/1/field: got "image_nme", expected one of {", ".join(IMAGE_FIELDS)}'
        " (did you mean 'image_name'?)",
        f'{path} /select/limit: unknown parameter "limit"; expected one of {", ".join(FILTER_PARAMS)}',
        f'{path} /where/any/0/value: got "many", expected an integer (vul_num is an integer field)',
        f"{path} /message: unknown placeholder {{image}} (did you mean 'image_id'?);"
        f" expected one of {', '.join(sorted(IMAGE_FIELDS))}",
        "1 file: 0 valid policies, 6 errors, 0 warnings",
    ]


def test_warnings_do_not_fail(tmp_path):
    policy = {
        "id": "p",
        "title": "t",
        "severity": "low",
        "message": "m",
        "select": {"has_vul": True},
        "where": {"field": "vul_num", "op": "gt", "value": 0},
    }
    (tmp_path / "p.json").write_text(json.dumps(policy))
    code, lines = run([tmp_path])
    assert code == 0
    assert lines == [
        f"warning: {tmp_path / 'p.json'} /select/has_vul: the where does not require both vul_num gt 0 and"
        " scan_status eq success: HSS may apply has_vul to successfully scanned images only, so images the"
        " where would flag could be hidden",
        "1 file: 1 valid policy, 0 errors, 1 warning",
    ]


def test_duplicate_ids_across_paths(tmp_path):
    policy = {
        "id": "dup",
        "title": "t",
        "severity": "low",
        "message": "m",
        "where": {"field": "vul_num", "op": "gt", "value": 0},
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.json").write_text(json.dumps(policy))
    (tmp_path / "b" / "y.json").write_text(json.dumps(policy))
    code, lines = run([tmp_path / "a", tmp_path / "b"])
    assert code == 2
    first, second = tmp_path / "a" / "x.json", tmp_path / "b" / "y.json"
    assert lines[0] == f'{second} /id: policy id "dup" is already defined in {first}'
