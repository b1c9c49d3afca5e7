"""Fixtures for tests against the HSS emulator (real HTTP on 127.0.0.1), all named ``emulator*``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from imagewatch.emulator import Emulator, Fleet
from support.emulator_support import NOW_MS, ManualClock, loopback_client


@pytest.fixture
def emulator_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emulator_fleet() -> Fleet:
    """A small synthetic fleet (600 records), fresh per test so mutations never leak."""
    return Fleet.synthetic(600, seed=7, now_ms=NOW_MS)


@pytest.fixture
def emulator(emulator_fleet: Fleet, emulator_clock: ManualClock) -> Iterator[Emulator]:
    """A running emulator with the demo credentials and a hand-driven clock."""
    with Emulator(emulator_fleet, clock=emulator_clock) as running:
        yield running


@pytest.fixture
def emulator_http(emulator: Emulator) -> Iterator[httpx.Client]:
    """An httpx client authenticated with the demo token."""
    with loopback_client(headers={"X-Auth-Token": "demo-token"}) as client:
        yield client
