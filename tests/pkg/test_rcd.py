"""rc.d/s2s_agent and the pkg install/deinstall hooks: shellcheck and the contract."""

from __future__ import annotations

import re
import subprocess

from .conftest import FILES, ROOT, require_tool

RC = ROOT / "rc.d" / "s2s_agent"


def test_shellcheck_rc_script():
    sc = require_tool("shellcheck")
    r = subprocess.run([sc, "-s", "sh", str(RC)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_shellcheck_pkg_hooks():
    sc = require_tool("shellcheck")
    for name in ("pkg-install.in", "pkg-deinstall.in"):
        r = subprocess.run([sc, "-s", "sh", str(FILES / name)], capture_output=True, text=True)
        assert r.returncode == 0, name + r.stdout + r.stderr


def test_no_blanket_shellcheck_disable():
    text = RC.read_text()
    # every disable directive names SC2034 (variables rc.subr reads) and sits on its own line
    for line in text.splitlines():
        if "shellcheck disable" in line:
            assert line.strip() == "# shellcheck disable=SC2034", line


def test_rc_contract():
    text = RC.read_text()
    assert text.startswith("#!/bin/sh\n")
    assert re.search(r"^name=s2s_agent$", text, re.M)
    assert re.search(r"^rcvar=s2s_agent_enable$", text, re.M)
    assert ': "${s2s_agent_enable:=NO}"' in text
    assert re.search(r"^PATH=.*:/usr/local/sbin(:|$)", text, re.M)
    assert 'command="/usr/sbin/daemon"' in text
    args = re.search(r'^command_args="(.*)"$', text, re.M).group(1)
    for flag in (
        "-r",
        "-P ${s2s_agent_supervisor_pidfile}",
        "-p ${s2s_agent_pidfile}",
        "-t s2s-agent",
        "-S",
        "-T s2s-agent",
        "run -c ${s2s_agent_config}",
    ):
        assert flag in args, flag
    assert 'extra_commands="reload tunnels"' in text
    assert re.search(r"kill -HUP \"\$\{_child\}\"", text)
    assert '"${s2s_agent_program}" status' in text
    assert text.rstrip().endswith('run_rc_command "$1"')


def test_rc_script_parses_with_sh():
    r = subprocess.run(["sh", "-n", str(RC)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
