"""Which policy pack a test reads: the tests' own (``FIXTURE_PACK``) or the user's (``SHIPPED_PACK``).

``policies/`` is the user's to edit, add to (in subfolders too) or replace, so a test that needs known
policies reads the frozen copy in ``tests/fixtures/pack/``; tests of ``policies/`` itself check only
what holds for any pack: every file is valid and every example passes (issue 14).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_PACK = ROOT / "tests" / "fixtures" / "pack"
SHIPPED_PACK = ROOT / "policies"
