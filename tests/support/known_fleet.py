"""A small fleet whose violations under three policies of the tests' own pack are known by hand
(EXPECTED): ``FIXTURE_PACK``, a copy of what shipped, never ``policies/`` (the user's)."""

from __future__ import annotations

import shutil
from pathlib import Path

from support.pack import FIXTURE_PACK, ROOT

__all__ = ["E2E_POLICIES", "EXPECTED", "FIXTURE_PACK", "ROOT", "known_fleet"]
DAY_MS = 86_400_000
E2E_POLICIES = ("high-severity", "malicious-files", "scan-freshness")


def e2e_policy_folder(parent: Path) -> Path:
    """``parent/policies`` (new), holding the E2E policies copied from the fixture pack."""
    folder = parent / "policies"
    folder.mkdir()
    for name in E2E_POLICIES:
        shutil.copy(FIXTURE_PACK / f"{name}.json", folder)
    return folder


def known_fleet(now_ms: int) -> list[dict]:
    """Nine images on five hosts; what each shipped policy should say about them is in EXPECTED."""

    def image(image_id: str, host: str, **fields: object) -> dict:
        return {
            "image_id": image_id,
            "image_name": f"shop/{image_id}",
            "image_version": "1.0",
            "image_digest": f"sha256:{image_id:0>64}",
            "local_image_type": "swr_image",
            "host_id": host,
            "host_name": f"node-{host}",
            "agent_id": f"agent-{host}",
            "image_size": 50_000_000,
            "latest_update_time": now_ms - 30 * DAY_MS,
            "vul_num": 0,
            "malicious_file_num": 0,
            "unsafe_setting_num": 0,
            **fields,
        }

    fresh, stale = now_ms - DAY_MS, now_ms - 10 * DAY_MS
    return [
        image("a", "h1", scan_status="success", severity_level="High", vul_num=10, latest_scan_time=fresh),
        image(
            "b",
            "h1",
            scan_status="success",
            severity_level="Medium",
            malicious_file_num=2,
            latest_scan_time=fresh,
        ),
        image("c", "h2", scan_status="success", severity_level="Low", vul_num=1, latest_scan_time=stale),
        image("d", "h2", scan_status="unscan", latest_scan_time=0),
        image("e", "h3", scan_status="success", severity_level="Security", latest_scan_time=fresh),
        image("f", "h3", scan_status="failed", scan_failed_desc="huge_image", latest_scan_time=0),
        image(
            "g",
            "h4",
            scan_status="success",
            severity_level="High",
            malicious_file_num=1,
            latest_scan_time=fresh,
        ),
        image("h", "h4", scan_status="success", severity_level="", vul_num=2, latest_scan_time=fresh),
        image("i", "h5", scan_status="success", severity_level="Low", vul_num=1, latest_scan_time=fresh),
    ]


# The three policies judge images (subject "image"): a violation's subject is the image id.
EXPECTED = {
    ("high-severity", "a"),
    ("malicious-files", "b"),
    ("scan-freshness", "c"),
    ("scan-freshness", "d"),
    ("scan-freshness", "f"),
    ("high-severity", "g"),
    ("malicious-files", "g"),
    ("high-severity", "h"),
}
