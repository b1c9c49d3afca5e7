"""The one packaged schema: valid, in step with the code, and what the pack's $schema points at."""

import json
from pathlib import Path

from jsonschema import Draft202012Validator

from imagewatch.hss.model import IMAGE_FIELDS
from imagewatch.hss.query import FILTER_PARAMS
from imagewatch.policy.operators import OPERATORS, THRESHOLD_OPERATORS
from imagewatch.policy.schema import policy_schema
from imagewatch.violation import SEVERITIES
from support.pack import FIXTURE_PACK

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ROOT / "functions" / "checker" / "imagewatch" / "policy" / "policy.schema.json"


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(policy_schema())


def test_enums_match_the_code():
    defs = policy_schema()["$defs"]
    assert defs["leaf"]["properties"]["field"]["enum"] == list(IMAGE_FIELDS)
    assert defs["leaf"]["properties"]["op"]["enum"] == list(OPERATORS)
    assert defs["fleet"]["properties"]["op"]["enum"] == list(THRESHOLD_OPERATORS)
    assert policy_schema()["properties"]["severity"]["enum"] == list(SEVERITIES)
    assert list(policy_schema()["properties"]["select"]["properties"]) == list(FILTER_PARAMS)
    assert list(defs["image"]["properties"]) == list(IMAGE_FIELDS)


def test_every_fixture_policy_points_at_the_single_packaged_schema():
    assert policy_schema() == json.loads(PACKAGED.read_text())
    schema_files = [
        p for p in ROOT.rglob("policy*.schema.json") if ".venv" not in p.parts and "build" not in p.parts
    ]
    assert schema_files == [PACKAGED]
    for path in sorted(FIXTURE_PACK.glob("*.json")):
        target = (path.parent / json.loads(path.read_text())["$schema"]).resolve()
        assert target == PACKAGED, path.name
