"""docs/webhooks.md stays true: its receiver snippet verifies our signature, its paces match the code."""

from __future__ import annotations

import re
import time
from pathlib import Path

from imagewatch.alerts.channels import PLATFORMS, generic

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def snippet_verify() -> object:
    text = DOC.read_text()
    code = re.search(r"<!-- verify-snippet -->\n```python\n(.*?)```", text, re.S)
    assert code, "the verify snippet is missing"
    namespace: dict = {}
    exec(compile(code.group(1), str(DOC), "exec"), namespace)  # our own documentation
    return namespace["verify"]


def test_the_documented_receiver_accepts_our_signature_and_nothing_else() -> None:
    verify = snippet_verify()
    payload = {"title": "imagewatch compliance: 1 new"}
    now = time.time()
    _, headers, body = generic.prepare("https://example.test/hook", payload, "shared", now)
    assert verify(b"shared", headers, body)
    assert not verify(b"other", headers, body)
    assert not verify(b"shared", headers, body + b" ")
    _, stale, stale_body = generic.prepare("https://example.test/hook", payload, "shared", now - 600)
    assert not verify(b"shared", stale, stale_body)


def test_every_documented_pace_is_the_codes() -> None:
    text = DOC.read_text()
    for module in set(PLATFORMS.values()):
        assert f"`MIN_INTERVAL_S = {module.MIN_INTERVAL_S}`" in text, module.NAME
