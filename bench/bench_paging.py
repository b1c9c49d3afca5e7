"""Paging 100,000 images from the emulator at 50 ms added latency: imagewatch vs the official SDK.

    python bench/bench_paging.py

Both clients sign with AK/SK against the same emulator process (real clock: the SDK signs with it) and
read the whole listing (``enterprise_project_id=all_granted_eps``, 200 a page, 500 pages):

* imagewatch, 8 in flight, the rate cap lifted (1,000/s) so only concurrency bounds it;
* imagewatch with its defaults (8 in flight, 50 requests/s): the cap is what bounds it here;
* the official ``huaweicloudsdkhss`` paging one page after another, as a user would write it;
* plain httpx with 8 requests in flight, bodies read but not parsed: the practical floor;
* the ideal: pages × latency ÷ concurrency (and pages ÷ rate for the capped run).

The fast runs are best of 5 (about 4 s each), imagewatch and plain httpx taking turns; the SDK's
30 s run is measured once.

The emulator serves the records from a fleet file rather than its synthetic generator: generating a
page costs the emulator ~6 ms of CPU, which at 8 pages per 50 ms would make the emulator the bottleneck.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support import AK, CHECKER, PROJECT, PYTHON, SK, best_in_turns, emulator, timed

FLEET = 100_000
LATENCY_MS = 50.0
PAGE = 200
IN_FLIGHT = 8
RUNS = 5  # the fast runs, best of 5 taking turns with plain httpx: with 3 in a row, 1.17x-1.27x of the ideal


@dataclass(frozen=True)
class PagingResult:
    seconds: float
    records: int
    pages: int


def imagewatch_read(url: str, *, max_in_flight: int, max_rps: float) -> PagingResult:
    from imagewatch.hss.auth import AkSkAuth
    from imagewatch.hss.client import HssClient
    from imagewatch.hss.query import ImageQuery

    auth = AkSkAuth(AK, SK, project_id=PROJECT)
    with HssClient(url, PROJECT, auth, max_in_flight=max_in_flight, max_rps=max_rps) as client:
        listing = client.list_images(ImageQuery(enterprise_project_id="all_granted_eps"))
        seconds, records = timed(lambda: sum(1 for _ in listing))
        if not listing.complete or records != FLEET:
            raise RuntimeError(f"imagewatch read {records} records, problems {listing.problems}")
        return PagingResult(seconds, records, listing.stats.pages)


def sdk_read(url: str) -> PagingResult:
    """The official SDK, paging sequentially (HOME must be a temp dir: the SDK writes ~/.huaweicloud)."""
    from huaweicloudsdkcore.auth.credentials import BasicCredentials
    from huaweicloudsdkcore.http.http_config import HttpConfig
    from huaweicloudsdkhss.v5 import HssClient, ListImageLocalRequest

    config = HttpConfig.get_default_config()
    config.timeout = (5, 30)
    client = (
        HssClient.new_builder()
        .with_credentials(BasicCredentials(AK, SK, PROJECT))
        .with_http_config(config)
        .with_endpoint(url)
        .build()
    )

    def read() -> tuple[int, int]:
        offset = records = pages = 0
        while True:
            request = ListImageLocalRequest(
                limit=PAGE, offset=offset, enterprise_project_id="all_granted_eps"
            )
            response = client.list_image_local(request)
            records += len(response.data_list or [])
            pages += 1
            offset += PAGE
            if offset >= response.total_num:
                return records, pages

    seconds, (records, pages) = timed(read)
    if records != FLEET:
        raise RuntimeError(f"the SDK read {records} records")
    return PagingResult(seconds, records, pages)


def plain_httpx_read(url: str) -> PagingResult:
    """The floor: 8 threads GET every page with a shared httpx client, nothing parsed or checked."""
    import httpx

    from imagewatch.hss.auth import AkSkAuth

    list_url = f"{url}/v5/{PROJECT}/image/local-repositories"
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    with httpx.Client(auth=AkSkAuth(AK, SK, project_id=PROJECT), limits=limits) as client:

        def get(offset: int) -> int:
            params = {"enterprise_project_id": "all_granted_eps", "limit": PAGE, "offset": offset}
            return len(client.get(list_url, params=params).raise_for_status().content)

        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            seconds, _ = timed(lambda: list(pool.map(get, range(0, FLEET, PAGE))))
    return PagingResult(seconds, FLEET, FLEET // PAGE)


def fleet_file(folder: Path) -> Path:
    """The synthetic fleet written once, in a child process (its garbage stays out of this one)."""
    path = folder / "fleet.json"
    code = f"from imagewatch.emulator import Fleet; Fleet.synthetic({FLEET}, seed=0).dump({str(path)!r})"
    subprocess.run([PYTHON, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(CHECKER)})
    return path


def run() -> dict[str, PagingResult | float]:
    os.environ["HOME"] = tempfile.mkdtemp(prefix="imagewatch-bench-home-")  # before the SDK is imported
    with tempfile.TemporaryDirectory(prefix="imagewatch-bench-") as folder:
        path = fleet_file(Path(folder))
        with emulator(0, latency_ms=LATENCY_MS, fleet_file=path) as served:
            url = served.url
            imagewatch_read(url, max_in_flight=IN_FLIGHT, max_rps=1000)  # warm-up: imports, the OS
            (_, fast), (_, plain) = best_in_turns(
                RUNS,
                [
                    lambda: imagewatch_read(url, max_in_flight=IN_FLIGHT, max_rps=1000),
                    lambda: plain_httpx_read(url),
                ],
            )
            default = imagewatch_read(url, max_in_flight=IN_FLIGHT, max_rps=50)
            sdk = sdk_read(url)
    pages = FLEET // PAGE
    return {
        "imagewatch": fast,
        "imagewatch_default": default,
        "plain_httpx": plain,
        "sdk": sdk,
        "ideal": pages * LATENCY_MS / 1000 / IN_FLIGHT,
        "ideal_default": max(pages * LATENCY_MS / 1000 / IN_FLIGHT, pages / 50),
    }


def main() -> int:
    results = run()
    fast, default, sdk = results["imagewatch"], results["imagewatch_default"], results["sdk"]
    ideal, ideal_default, plain = results["ideal"], results["ideal_default"], results["plain_httpx"]
    assert isinstance(fast, PagingResult) and isinstance(default, PagingResult)
    assert isinstance(plain, PagingResult)
    assert isinstance(sdk, PagingResult) and isinstance(ideal, float) and isinstance(ideal_default, float)
    print(f"{FLEET} images, {FLEET // PAGE} pages, {LATENCY_MS:g} ms added latency")
    print(f"  imagewatch {IN_FLIGHT} in flight     {fast.seconds:7.2f} s")
    print(f"  imagewatch defaults (50/s)   {default.seconds:7.2f} s")
    print(f"  plain httpx {IN_FLIGHT} in flight    {plain.seconds:7.2f} s")
    print(f"  official SDK, sequential     {sdk.seconds:7.2f} s   ({sdk.seconds / fast.seconds:.1f}x slower)")
    print(
        f"  ideal                        {ideal:7.2f} s   (imagewatch at {fast.seconds / ideal:.2f}x of it)"
    )
    print(f"  ideal at 50/s                {ideal_default:7.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
