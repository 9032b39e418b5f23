"""The lock that makes one remediator per host: ``<state_dir>/s2s-agent.lock`` (flock).

The daemon holds it for its whole life; the one-shot ``s2s-agent remediate`` holds it while
it observes, plans, writes and persists. Both read and write the same remediation memory
(``state.json``: the Azure write times of :mod:`.writegate`, the applied IP), so neither
can act next to the other or reset the other's write count.

The kernel drops an ``flock`` when its holder dies, so a lock file left by a crash is not a
lock: :func:`acquire` takes it. A held lock means a live process (running, or stopped with
SIGSTOP) — which is how the one-shot mode tells "no daemon" from "a daemon that does not
answer". The holder's pid is written into the file, for the message only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import time

from .errors import StateError

LOCK_NAME = "s2s-agent.lock"
START_WAIT = 10.0  # seconds a starting daemon waits for a one-shot run to finish


class LockHeld(StateError):
    """Another live s2s-agent process holds the lock; ``pid`` when it could be read."""

    def __init__(self, message: str, *, pid: int | None):
        self.pid = pid
        super().__init__(message)


class RunLock:
    def __init__(self, fd: int, path: str):
        self.fd, self.path = fd, path

    def release(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *_exc) -> None:
        self.release()


def lock_path(state_dir: str) -> str:
    return os.path.join(state_dir, LOCK_NAME)


def _holder(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "x")
    return None


def acquire(state_dir: str, *, wait: float = 0.0, what: str = "s2s-agent") -> RunLock:
    """Take the lock (retrying for up to ``wait`` seconds); LockHeld if a live process has
    it, StateError if the file cannot be opened (the message names it and the OS reason)."""
    path = lock_path(state_dir)
    try:
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        fd = os.open(path, flags | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        raise StateError(
            f"cannot open the lock file {path}: {exc.strerror or exc} "
            "(agent.state_dir; run as root)"
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StateError(f"the lock file {path} is not a regular file; remove it")
    end = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise StateError(f"cannot lock {path}: {exc.strerror or exc}") from None
            if time.monotonic() >= end:
                pid = _holder(fd)
                os.close(fd)
                who = f"pid {pid}" if pid else "another process"
                raise LockHeld(
                    f"{what}: {path} is held by {who}, a live s2s-agent "
                    "(daemon or one-shot remediate)",
                    pid=pid,
                ) from None
            time.sleep(0.1)
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return RunLock(fd, path)
