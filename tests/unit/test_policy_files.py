"""Review row 9 (issue 12): files an operator points imagewatch at are read only when they are regular
files, size-checked before reading and read with a bound.

The review's policy folder held a symlink to ``/dev/zero`` (``MemoryError`` after 2.6 GB) and a FIFO
named ``*.json`` (the run hung); the channels file had the same reader. A watchdog turns a read that
never returns into a failure instead of a hung suite (SIGALRM interrupts a blocking ``open``).
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from imagewatch.alerts.routing import ChannelsFileError, load_channels
from imagewatch.policy import files, load_policies
from imagewatch.policy.files import MAX_FILE_BYTES, FileRefused, read_regular_file

ROOT = Path(__file__).resolve().parents[2]
POLICY = {
    "id": "p",
    "title": "t",
    "severity": "low",
    "where": {"field": "vul_num", "op": "gt", "value": 0},
    "message": "m",
}


@contextmanager
def watchdog(seconds: float = 20) -> Iterator[None]:
    def expire(*_: Any) -> None:
        raise AssertionError(f"still reading after {seconds} s: the run would hang here")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def folder_with(tmp_path: Path) -> Path:
    """A policy folder holding one good policy, ``good.json``."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "good.json").write_text(json.dumps(POLICY))
    return folder


def errors_by_file(folder: Path) -> tuple[list[str], dict[str, str]]:
    with watchdog():
        loaded = load_policies(folder)
    return [p.source for p in loaded.policies], {Path(e.file).name: e.message for e in loaded.errors}


def test_a_symlink_to_dev_zero_is_refused_without_reading_it(tmp_path: Path) -> None:
    """Row 9: a symlink to /dev/zero in the policy folder (old code: MemoryError after 2.6 GB)."""
    folder = folder_with(tmp_path)
    (folder / "zero.json").symlink_to("/dev/zero")
    loaded, errors = errors_by_file(folder)
    assert loaded == [str(folder / "good.json")]
    assert errors == {
        "zero.json": f"a symbolic link to /dev/zero, outside the folder {folder}; expected a regular file,"
        " or a link to one inside the folder"
    }


def test_a_fifo_named_json_is_refused_without_waiting_on_it(tmp_path: Path) -> None:
    """Row 9: a FIFO named x.json in the policy folder (old code: the run hung opening it)."""
    folder = folder_with(tmp_path)
    os.mkfifo(folder / "pipe.json")
    loaded, errors = errors_by_file(folder)
    assert loaded == [str(folder / "good.json")]
    assert errors == {"pipe.json": "a named pipe (FIFO); expected a regular file"}


def test_a_device_named_directly_is_refused(tmp_path: Path) -> None:
    """Row 9: POLICY_PATH=/dev/zero is not a policy file either (old code: MemoryError)."""
    with watchdog():
        [error] = load_policies(Path("/dev/zero")).errors
    assert (error.file, error.message) == ("/dev/zero", "a character device; expected a regular file")


def test_a_symlink_to_a_file_outside_the_folder_is_refused(tmp_path: Path) -> None:
    """Row 9: links may not leave the policy folder (old code: loaded /elsewhere/shared.json)."""
    folder = folder_with(tmp_path)
    outside = tmp_path / "elsewhere" / "shared.json"
    outside.parent.mkdir()
    outside.write_text(json.dumps({**POLICY, "id": "shared"}))
    (folder / "shared.json").symlink_to(outside)
    loaded, errors = errors_by_file(folder)
    assert loaded == [str(folder / "good.json")]
    assert errors["shared.json"].startswith(f"a symbolic link to {outside}, outside the folder {folder};")


def test_symlinks_to_regular_files_inside_the_folder_load(tmp_path: Path) -> None:
    """The decision for row 9 (passes on the old code too): a link to a regular file inside the folder
    is followed, as a Kubernetes
    ConfigMap mounts files (``p.json -> ..data/p.json``, ``..data -> ..2026_01_01``)."""
    folder = tmp_path / "policies"
    (folder / "..2026_01_01").mkdir(parents=True)
    (folder / "..2026_01_01" / "p.json").write_text(json.dumps(POLICY))
    (folder / "..data").symlink_to("..2026_01_01")
    (folder / "p.json").symlink_to("..data/p.json")
    loaded, errors = errors_by_file(folder)
    assert (loaded, errors) == ([str(folder / "p.json")], {})


def test_a_dangling_symlink_and_a_linked_folder_are_named(tmp_path: Path) -> None:
    """Row 9: a link to nothing, or to a folder, is reported rather than read or walked."""
    folder = folder_with(tmp_path)
    (folder / "gone.json").symlink_to(folder / "nothing-here.json")
    (folder / "sub").mkdir()
    (folder / "dir.json").symlink_to(folder / "sub")
    loaded, errors = errors_by_file(folder)
    assert loaded == [str(folder / "good.json")]
    assert errors == {
        "gone.json": f"a symbolic link to {folder / 'nothing-here.json'}, which cannot be read:"
        " No such file or directory",
        "dir.json": f"a symbolic link to {folder / 'sub'}, a folder; expected a regular file",
    }


def test_size_is_checked_before_a_byte_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Row 9: an oversized file is refused from its size alone. The old loader read a file whole before
    checking (how /dev/zero took 2.6 GB); this pins the new reader's order."""
    big = tmp_path / "big.json"
    with big.open("wb") as out:
        out.truncate(50 * MAX_FILE_BYTES)  # sparse: 50 MB by its size, nothing on disk
    monkeypatch.setattr(files.os, "read", lambda *_: pytest.fail("read an oversized file"))
    with pytest.raises(FileRefused) as refused:
        read_regular_file(big, MAX_FILE_BYTES, "per policy file")
    assert refused.value.message == f"{50 * MAX_FILE_BYTES} bytes; expected at most 1000000 per policy file"


def test_a_file_that_grows_after_the_size_check_is_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row 9: the read is bounded even when the size changes between stat and read (the old loader
    had no bound on the read at all)."""
    grown = tmp_path / "grown.json"
    grown.write_bytes(b" " * 5000)
    real_fstat = os.fstat

    def stale_fstat(fd: int) -> os.stat_result:  # what fstat said before the file grew
        status = list(real_fstat(fd))
        status[6] = 10  # st_size
        return os.stat_result(status)

    monkeypatch.setattr(files.os, "fstat", stale_fstat)
    reads: list[int] = []
    real_read = os.read
    monkeypatch.setattr(files.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    with pytest.raises(FileRefused) as refused:
        read_regular_file(grown, 100, "per policy file")
    assert (
        refused.value.message == "grew past 100 bytes while being read; expected at most 100 per policy file"
    )
    assert sum(reads) == 101  # one byte past the limit, never the rest


def test_the_channels_file_is_read_the_same_way(tmp_path: Path) -> None:
    """Row 9, the channels file: a FIFO (old code: hung) and an oversized file (old code: read whole)."""
    fifo = tmp_path / "channels.json"
    os.mkfifo(fifo)
    with watchdog(), pytest.raises(ChannelsFileError) as caught:
        load_channels(fifo, {})
    assert str(caught.value) == f"{fifo}: a named pipe (FIFO); expected a regular file"
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_FILE_BYTES + 1))
    with pytest.raises(ChannelsFileError) as caught:
        load_channels(big, {})
    assert str(caught.value) == f"{big}: 1000001 bytes; expected at most 1000000 for a channels file"


def test_a_channels_file_that_is_not_utf8_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """Row 9's reader, one step further: bytes that are not UTF-8 (old code: UnicodeDecodeError)."""
    bad = tmp_path / "channels.json"
    bad.write_bytes(b'{"channels": ["\xff"]}')
    with pytest.raises(ChannelsFileError) as caught:
        load_channels(bad, {})
    assert str(caught.value) == f"{bad}: not UTF-8 text (byte 15)"


def test_a_lone_surrogate_in_a_policy_or_channels_file_is_refused_at_its_place(tmp_path: Path) -> None:
    """JSON can escape half a character ("\\ud800"); written to a report, a ledger or a chat message it
    failed the run (UnicodeEncodeError). A file people write is refused, naming file and pointer."""
    folder = tmp_path / "policies"
    folder.mkdir()
    policy = folder / "no-high.json"
    policy.write_text('{"id": "no-high", "title": "No High \\ud800", "labels": {"team\\udfff": "x"}}')
    [error] = load_policies(folder).errors
    assert (error.file, error.pointer) == (str(policy), "/title")  # the first, in document order
    assert "lone surrogate" in error.message
    str(error).encode("utf-8")  # the message itself is writable
    channels = tmp_path / "channels.json"
    channels.write_text('{"channels": [{"name": "oncall", "url": "${WEBHOOK_URL}", "title": "\\ud800"}]}')
    with pytest.raises(ChannelsFileError) as caught:
        load_channels(channels, {})
    assert caught.value.problems == [
        "/channels/0/title: a lone surrogate (a \\ud800-\\udfff escape without its other half) is not "
        "Unicode text: write the character itself, or both escapes of its pair"
    ]


def test_a_channels_text_nested_past_the_decoder_is_an_error_not_a_crash(tmp_path: Path) -> None:
    """json.loads raises RecursionError (not a ValueError) on a long run of [."""
    deep = tmp_path / "channels.json"
    deep.write_text("[" * 100_000)
    with pytest.raises(ChannelsFileError, match="not JSON"):
        load_channels(deep, {})
