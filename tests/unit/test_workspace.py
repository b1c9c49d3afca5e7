"""The run's workspace: findings merged per subject on disk, read back in fingerprint order."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from imagewatch.violation import Violation
from imagewatch.workspace import Workspace


def finding(
    subject: str, host: str, *, kind: str = "image", policy: str = "p", severity: str = "high"
) -> Violation:
    label = f"{subject}:1" if kind == "image" else f"{subject}:1 on {host}"
    return Violation(policy, "t", severity, subject, label, f"msg {subject} {host}", kind=kind, host=host,
                     host_name=f"node-{host}")  # fmt: skip


def test_an_image_on_many_hosts_is_one_subject_that_counts_them(tmp_path: Path) -> None:
    with Workspace(tmp_path) as work:
        for host in ("h3", "h1", "h2", "h2", "h5", "h4"):  # h2 twice: a repeated record counts once
            work.add(finding("nginx", host))
        [violation] = list(work.found())
    assert violation.hosts == 5
    assert violation.host_names == ("node-h1", "node-h2", "node-h3")
    assert violation.label == "nginx:1 on 5 hosts (node-h1, node-h2, node-h3, …)"
    assert violation.message == "msg nginx h3"  # the first finding is the rendering


def test_one_host_reads_without_an_ellipsis_and_a_nameless_host_shows_its_id(tmp_path: Path) -> None:
    with Workspace(tmp_path) as work:
        work.add(Violation("p", "t", "low", "redis", "redis:7", "m", kind="image", host="h9"))
        [violation] = list(work.found())
    assert violation.label == "redis:7 on 1 host (h9)"


def test_record_subjects_stay_apart_and_everything_comes_back_by_fingerprint(tmp_path: Path) -> None:
    found = [finding(f"img{i}", f"h{i % 3}", kind="record") for i in range(50)]
    found += [finding(f"img{i}", "h1", policy="q", severity="critical") for i in range(30)]
    with Workspace(tmp_path) as work:
        work.add_all(found)
        by_fp = list(work.found_keyed())
        assert work.count() == 80 and Counter(v.severity for _, v in by_fp) == {"critical": 30, "high": 50}
    assert [fp for fp, _ in by_fp] == sorted(v.fingerprint for v in found)
    assert all(fp == v.fingerprint for fp, v in by_fp)


def test_groups_are_sealed_apart_and_read_together_in_fingerprint_order(tmp_path: Path) -> None:
    """One set per query: a sealed group holds its own findings and exemptions and takes no more; the
    workspace reads every group as one stream, by fingerprint; later findings go to the next group."""
    first = [finding(f"img{i}", "h1", policy="p") for i in range(40)]
    second = [finding(f"img{i}", f"h{i % 2}", policy="q", kind="record") for i in range(25)]
    with Workspace(tmp_path) as work:
        work.add_all(first)
        work.exempt(first[0].fingerprint)
        sealed = work.seal_group()
        work.add_all(second)
        work.add(finding("img1", "h9", policy="p"))  # the next group's: never merged into the sealed one
        work.exempt(second[3].fingerprint)
        with pytest.raises(RuntimeError, match="read already"):
            sealed.add(first[1])
        assert [fp for fp, _ in sealed.found_keyed()] == sorted(v.fingerprint for v in first)
        assert {v.hosts for _, v in sealed.found_keyed()} == {1}
        assert list(sealed.exempted()) == [first[0].fingerprint]
        last = work.last_group()
        assert last.count() == 26 and list(last.exempted()) == [second[3].fingerprint]
        every = list(work.found_keyed())
        assert list(work.exempted()) == sorted([first[0].fingerprint, second[3].fingerprint])
        assert work.count() == 66
    assert [fp for fp, _ in every] == sorted([v.fingerprint for v in first + second] + [first[1].fingerprint])
    assert list(tmp_path.iterdir()) == []  # every group's file gone with the workspace


def test_more_findings_than_the_cache_holds_still_merge(tmp_path: Path) -> None:
    """The 'seen' cache is bounded (50,000); repeats past it are dropped when read, not double counted."""
    with Workspace(tmp_path) as work:
        for round_ in range(2):
            for i in range(30_000):
                work.add(finding(f"img{i}", f"h{round_}"))
        subjects = list(work.found())
    assert len(subjects) == 30_000 and {v.hosts for v in subjects} == {2}


def test_a_sealed_group_lets_go_of_the_fingerprints_it_remembered(tmp_path: Path) -> None:
    """While findings come in, a set remembers up to 50,000 fingerprints (~5 MB) so a repeat is not
    buffered twice; sealed, only its file holds them, so the next query's read does not carry them."""
    tracemalloc.start()
    try:
        with Workspace(tmp_path) as work:
            for i in range(20_000):
                work.add(finding(f"img{i}", "h1"))
            filled = tracemalloc.get_traced_memory()[0]
            work.seal_group()  # no batch is left to write (20,000 is a whole number of batches)
            sealed = tracemalloc.get_traced_memory()[0]
            assert filled - sealed > 2_000_000, (filled, sealed)
            assert sum(1 for _ in work.found()) == 20_000
    finally:
        tracemalloc.stop()


def test_nothing_can_be_added_once_findings_are_read(tmp_path: Path) -> None:
    with Workspace(tmp_path) as work:
        work.add(finding("a", "h1"))
        list(work.found())
        with pytest.raises(RuntimeError, match="read already"):
            work.add(finding("b", "h1"))


def test_the_file_is_never_visible_so_even_a_killed_run_leaves_nothing(tmp_path: Path) -> None:
    """Unlinked as soon as it is open: a run killed by the OOM killer or SIGKILL (no ``finally``) leaves
    no file in the temp folder, where a warm Lambda would keep it for the next invocation."""
    with pytest.raises(ZeroDivisionError), Workspace(tmp_path) as work:
        for index in range(3_000):  # past one write batch: the data is on disk, not only buffered
            work.add(finding(f"image-{index}", "h1"))
        assert work.count() == 3_000  # the unlinked file holds everything
        assert list(tmp_path.iterdir()) == []
        raise ZeroDivisionError
    assert list(tmp_path.iterdir()) == []


def test_a_killed_run_leaves_no_workspace_file(tmp_path: Path) -> None:
    """The process dies with its workspace open and spilled: nothing remains under its temp folder."""
    code = (
        "import os, sys; sys.path[:0] = sys.argv[2:];"
        "import imagewatch.workspace as w; w.SEEN_IN_MEMORY = 2;"
        "from imagewatch.hss.model import Image;"
        "work = w.Workspace(sys.argv[1]);"
        "[work.saw(Image(image_id=f'i{n}', host_id=f'h{n}')) for n in range(50)];"
        "os.kill(os.getpid(), 9)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path), *sys.path], check=False)
    assert done.returncode == -9
    assert list(tmp_path.iterdir()) == []


# -- what the run read: distinct records and images over all its queries (issue 14, point 7) -------------


def _fleet() -> list:
    """Image a on three hosts, b on one, c (no image_id: keyed by name, version, digest) on two."""
    from imagewatch.hss.model import Image

    return [
        *(Image(image_id="a", image_name="shop/a", image_version="1", host_id=h) for h in ("h1", "h2", "h3")),
        Image(image_id="b", image_name="shop/b", image_version="1", host_id="h1"),
        *(
            Image(image_name="shop/c", image_version="2", image_digest="sha256:c", host_id=h)
            for h in ("h2", "h3")
        ),
    ]


@pytest.mark.parametrize("held", [1_000_000, 4, 1])  # all in memory; spilled to the file once, often
def test_records_and_images_read_by_several_queries_count_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, held: int
) -> None:
    import imagewatch.workspace

    monkeypatch.setattr(imagewatch.workspace, "SEEN_IN_MEMORY", held)
    fleet = _fleet()
    with Workspace(tmp_path) as work:
        assert work.read_counts() == (0, 0)
        for image in fleet + fleet[:4] + fleet[2:]:  # three queries, overlapping, as a plan's are
            work.saw(image)
        assert work.read_counts() == (6, 3)
        work.saw(fleet[0].__copy__())  # the same record again, as another object
        assert work.read_counts() == (6, 3)
        spilled = work._records._spill is not None and work._images._spill is not None
        assert spilled == (held < 6)
        assert list(tmp_path.iterdir()) == []  # spilled or not, no file is ever visible
    assert list(tmp_path.iterdir()) == []  # every file gone with the workspace


@pytest.mark.parametrize("batch", [7, 2_000])
def test_host_counts_and_names_are_each_images_distinct_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """Each image's hosts counted once, their names (a host's id when nameless; its smallest name when
    HSS gave it two) sorted and the first three shown, with images interleaved, hosts repeated, and a
    name holding the old separator character (\x1f); a host met again in a later write batch
    (``batch`` 7) as in the same one."""
    import random

    monkeypatch.setattr("imagewatch.found_set.BATCH", batch)

    rng = random.Random(7)
    names: dict[str, dict[str, str]] = {}  # subject -> host -> smallest name seen
    with Workspace(tmp_path) as work:
        for _ in range(400):
            subject, host = f"img{rng.randrange(60)}", f"h{rng.randrange(25)}"
            name = rng.choice(["", f"node-{host}", f"alt-{host}", "odd\x1fname"])
            shown = name or host
            names.setdefault(subject, {})[host] = min(shown, names.get(subject, {}).get(host, shown))
            work.add(Violation("p", "t", "high", subject, f"{subject}:1", "m", kind="image", host=host,
                               host_name=name))  # fmt: skip
        by_fp = {v.subject: (v.hosts, v.host_names) for v in work.found()}
    expected = {s: (len(h), tuple(sorted(h.values())[:3])) for s, h in names.items()}
    assert by_fp == expected
    assert any(count > 3 for count, _ in expected.values())  # the "…" case is among them
