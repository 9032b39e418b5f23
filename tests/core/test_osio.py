"""osio.run: the timeout is a real limit, also when grandchildren hold the pipes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from s2s_agent.core import osio
from s2s_agent.core.errors import CommandError

# a child that forks a grandchild which leaves the process group (setsid) and keeps the
# inherited stdout/stderr open for 30 s: killpg cannot reach it
ESCAPER = (
    "import os, sys, time\n"
    "if os.fork() == 0:\n"
    "    os.setsid(); time.sleep(30); os._exit(0)\n"
    "print('started', flush=True)\n"
    "{tail}\n"
)


def _escaper(tail: str) -> list[str]:
    return [sys.executable, "-c", ESCAPER.format(tail=tail)]


def test_timeout_ends_the_call_even_when_a_grandchild_holds_the_pipes():
    t0 = time.monotonic()
    with pytest.raises(CommandError) as ei:
        osio.run(_escaper("time.sleep(30)"), timeout=1)
    took = time.monotonic() - t0
    assert ei.value.timed_out
    assert "started" in ei.value.stdout
    assert took < 1 + 2 * osio.REAP_GRACE + 2, took  # old code: 30 s


def test_a_command_that_exited_in_time_is_not_a_timeout_because_of_its_grandchild():
    with pytest.raises(CommandError) as ei:
        osio.run(_escaper("sys.exit(3)"), timeout=1)
    assert not ei.value.timed_out and ei.value.returncode == 3
    res = osio.run(_escaper("sys.exit(0)"), timeout=1)
    assert res.returncode == 0 and res.stdout.strip() == "started"


def test_the_whole_group_is_killed_on_timeout(tmp_path):
    marker = tmp_path / "alive"
    script = f"sleep 30 & echo $! > {marker}; wait"
    with pytest.raises(CommandError, match="timed out after 0.5s"):
        osio.run(["sh", "-c", script], timeout=0.5)
    pid = int(marker.read_text())
    time.sleep(0.2)
    r = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True)
    assert r.stdout.strip()[:1] in ("", "Z"), r.stdout  # "ZN" under nice(1)


def test_kill_running_ends_commands_started_by_other_threads():
    errors: list[CommandError] = []

    def work():
        try:
            osio.run(["sleep", "30"], timeout=60)
        except CommandError as exc:
            errors.append(exc)

    th = threading.Thread(target=work)
    th.start()
    deadline = time.monotonic() + 5
    # wait for this very command: another test's leftover may be in the set already
    while time.monotonic() < deadline and not any(
        tuple(p.args) == ("sleep", "30") for p in list(osio._running)
    ):
        time.sleep(0.02)
    assert osio.kill_running() >= 1  # (a command another test left running may be ended too)
    th.join(5)
    assert not th.is_alive()
    assert errors and errors[0].returncode == -9


def test_a_nul_byte_in_an_argument_is_a_command_error():
    with pytest.raises(CommandError, match="cannot start"):
        osio.run(["echo", "a\0b"], timeout=5)
