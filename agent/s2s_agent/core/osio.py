"""The one seam between s2s-agent and the operating system's commands.

Every external command goes through :func:`run`, which always has a timeout, never uses a
shell, and raises :class:`~s2s_agent.core.errors.CommandError` (missing binary, timeout, bad exit)
so callers handle one error type. Tests replace commands by passing another ``Runner``.

The timeout is a real limit: on expiry the whole process group is killed and its output
collected for at most :data:`REAP_GRACE` more seconds, so a grandchild that left the group
(``setsid``) while holding our pipes cannot keep the caller waiting. A command that exited
in time but left such a grandchild behind still counts as finished. :func:`kill_running`
ends every command still running (the daemon calls it when it stops).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import CommandError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
REAP_GRACE = 2.0
"""Seconds to collect a killed command's output before the pipes are abandoned."""

_running: set[subprocess.Popen] = set()
_running_lock = threading.Lock()


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def run(
    argv: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    ok_codes: Sequence[int] = (0,),
    input_text: str | None = None,
    env: dict[str, str] | None = None,
) -> Result:
    """Run ``argv`` and return its output; raise CommandError unless it exits in ``ok_codes``.

    The child gets its own process group so a hanging command and its children are killed
    together when the timeout expires.
    """
    argv = tuple(str(a) for a in argv)
    if not argv:
        raise CommandError(argv, "empty command")
    log.debug("run %s (timeout %.1fs)", " ".join(argv), timeout)
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
            env=env,
        )
    except FileNotFoundError:
        raise CommandError(argv, "command not found; is it installed and on PATH?") from None
    except PermissionError:
        raise CommandError(argv, "permission denied (run s2s-agent as root)") from None
    except OSError as exc:
        raise CommandError(argv, f"cannot start: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL byte in an argument or the environment
        raise CommandError(argv, f"cannot start: {exc}") from None
    with _running_lock:
        _running.add(proc)
    try:
        out, err, timed_out = _collect(proc, input_text, timeout)
    finally:
        with _running_lock:
            _running.discard(proc)
    if timed_out:
        raise CommandError(
            argv,
            f"timed out after {timeout:g}s",
            stdout=out or "",
            stderr=err or "",
            timed_out=True,
        )
    if proc.returncode not in ok_codes:
        first = (err or out or "").strip().splitlines()
        detail = first[-1] if first else "no output"
        raise CommandError(
            argv,
            f"exited with status {proc.returncode}: {detail}",
            returncode=proc.returncode,
            stdout=out,
            stderr=err,
        )
    return Result(argv, proc.returncode, out, err)


def _collect(
    proc: subprocess.Popen, input_text: str | None, timeout: float
) -> tuple[str, str, bool]:
    """(stdout, stderr, timed_out) of ``proc`` within ``timeout`` (+ REAP_GRACE after a kill)."""
    try:
        out, err = proc.communicate(input=input_text, timeout=timeout)
        return out, err, False
    except subprocess.TimeoutExpired as exc:
        exited = proc.poll() is not None  # done in time; a grandchild holds the pipes
        partial = (_text(exc.stdout), _text(exc.stderr))
    _kill_group(proc)
    try:
        out, err = proc.communicate(timeout=REAP_GRACE)
    except subprocess.TimeoutExpired as exc:  # a grandchild outside the group keeps them open
        out, err = _text(exc.stdout) or partial[0], _text(exc.stderr) or partial[1]
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(REAP_GRACE)  # the child itself got SIGKILL: this returns at once
    return out or "", err or "", not exited


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def kill_running() -> int:
    """Kill the process group of every command still running; returns how many."""
    with _running_lock:
        procs = list(_running)
    for proc in procs:
        if proc.poll() is None:
            _kill_group(proc)
    return len(procs)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
