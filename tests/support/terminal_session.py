"""Run a command with stdout and stderr on pseudo-terminals: what a person at a terminal sees.

Each stream gets its own pty, drained by a thread until the command closes it (a pty holds only a
few KiB, so an undrained one would block the command). No sleeps: the threads end at EOF.
"""

from __future__ import annotations

import os
import pty
import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import NamedTuple


class Session(NamedTuple):
    returncode: int
    stdout: bytes
    stderr: bytes


def _drain(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the other side closed (Linux)
            return
        if not chunk:
            return
        into.append(chunk)


def at_terminal(
    command: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 120
) -> Session:
    """``command`` run with a terminal for stdout and for stderr, stdin closed."""
    out_master, out_slave = pty.openpty()
    err_master, err_slave = pty.openpty()
    try:
        process = subprocess.Popen(
            list(command), stdout=out_slave, stderr=err_slave, stdin=subprocess.DEVNULL, env=env
        )
    finally:
        os.close(out_slave)
        os.close(err_slave)
    out: list[bytes] = []
    err: list[bytes] = []
    readers = [
        threading.Thread(target=_drain, args=(out_master, out), daemon=True),
        threading.Thread(target=_drain, args=(err_master, err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        returncode = process.wait(timeout=timeout)
        for reader in readers:
            reader.join(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(out_master)
        os.close(err_master)
    # a terminal turns \n into \r\n
    return Session(returncode, b"".join(out).replace(b"\r\n", b"\n"), b"".join(err).replace(b"\r\n", b"\n"))
