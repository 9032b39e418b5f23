"""The one seam between s2s-agent and the operating system's commands.

Every external command goes through :func:`run`, which always has a timeout, never uses a
shell, and raises :class:`~s2s_agent.errors.CommandError` (missing binary, timeout, bad exit)
so callers handle one error type. Tests replace commands by passing another ``Runner``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import CommandError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0


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
    try:
        out, err = proc.communicate(input=input_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        raise CommandError(
            argv,
            f"timed out after {timeout:g}s",
            stdout=out or "",
            stderr=err or "",
            timed_out=True,
        ) from None
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


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
