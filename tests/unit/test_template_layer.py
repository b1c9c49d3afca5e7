"""The PoliciesLayer's build (``make build-PoliciesLayer``, run by ``sam build``): it ships what
``imagewatch validate`` and ``run`` read, subfolders included (issue 14: a policy in a subfolder was
validated and run locally, then silently left out of the deployed layer).

The target is run as SAM's makefile builder runs it: ``ARTIFACTS_DIR`` in the environment, the
Makefile named with ``--makefile``, in the repository root (``ContentUri: .``, ``build_in_source``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from imagewatch.policy import load_policies
from imagewatch.policy.loader import policy_files
from support.pack import ROOT, SHIPPED_PACK

POLICY = {
    "id": "p",
    "title": "t",
    "severity": "low",
    "where": {"field": "vul_num", "op": "gt", "value": 0},
    "message": "m",
}


def build_layer(root: Path, artifacts: Path) -> subprocess.CompletedProcess[str]:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    return subprocess.run(
        [make, "--no-print-directory", "--makefile", str(root / "Makefile"), "build-PoliciesLayer"],
        cwd=root,
        env={**os.environ, "ARTIFACTS_DIR": str(artifacts)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def shipped(artifacts: Path) -> list[str]:
    folder = artifacts / "policies"
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def read_locally(pack: Path) -> list[str]:
    return sorted(str(p.relative_to(pack)) for p in policy_files(pack))


def user_pack(root: Path) -> Path:
    """A copy of the Makefile beside a pack as users grow one: subfolders, notes, a dot folder."""
    root.mkdir()
    shutil.copy(ROOT / "Makefile", root / "Makefile")
    pack = root / "policies"
    for relative, doc in {
        "a.json": {**POLICY, "id": "a"},
        "team/b.json": {**POLICY, "id": "b"},
        "team/deeper/c.json": {**POLICY, "id": "c"},
        ".git/d.json": {**POLICY, "id": "d"},
        ".e.json": {**POLICY, "id": "e"},
        "policy.schema.json": {"$schema": "https://json-schema.org/draft/2020-12/schema"},
    }.items():
        (pack / relative).parent.mkdir(parents=True, exist_ok=True)
        (pack / relative).write_text(json.dumps(doc))
    (pack / "team" / "README.md").write_text("# team policies\n")
    return pack


def test_the_layer_ships_every_policy_the_loader_reads_subfolders_included(tmp_path: Path) -> None:
    pack = user_pack(tmp_path / "repo")
    done = build_layer(tmp_path / "repo", tmp_path / "artifacts")
    assert done.returncode == 0, done.stderr
    assert shipped(tmp_path / "artifacts") == ["a.json", "team/b.json", "team/deeper/c.json"]
    assert shipped(tmp_path / "artifacts") == read_locally(pack)  # one rule everywhere
    mounted = load_policies(tmp_path / "artifacts" / "policies")  # as the function reads /opt/policies
    assert (sorted(p.id for p in mounted.policies), mounted.errors) == (["a", "b", "c"], [])


def test_the_layer_holds_the_shipped_pack_whatever_it_contains(tmp_path: Path) -> None:
    done = build_layer(ROOT, tmp_path)
    assert done.returncode == 0, done.stderr
    assert shipped(tmp_path) == read_locally(SHIPPED_PACK)
    assert shipped(tmp_path), "the policy pack is empty"


def test_a_pack_without_policies_fails_the_build(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "policies" / "team").mkdir(parents=True)
    (tmp_path / "policies" / "team" / "notes.md").write_text("nothing yet")
    done = build_layer(tmp_path, tmp_path / "artifacts")
    assert done.returncode != 0
    assert "build-PoliciesLayer: no policy (*.json) under policies/ to package" in done.stderr


def test_an_unreadable_policy_fails_the_build_rather_than_shipping_less(tmp_path: Path) -> None:
    user_pack(tmp_path / "repo")
    (tmp_path / "repo" / "policies" / "team" / "gone.json").symlink_to("no-such-file.json")
    done = build_layer(tmp_path / "repo", tmp_path / "artifacts")
    assert done.returncode != 0
    assert "gone.json" in done.stderr
