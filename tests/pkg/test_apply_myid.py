"""apply-myid.php (the PHP helper the agent runs as root to re-apply a phase 1 "My
identifier") against the stand-ins of pfSense's config API (tests/pkg/php_stubs)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from .conftest import FILES, require_tool
from .test_gui import PHASE1, STUBS

APPLY = FILES / "usr/local/libexec/s2s-agent/apply-myid.php"


def run_apply(tmp_path: Path, *args: str) -> tuple[int, dict, dict]:
    php = require_tool("php")
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps({"ipsec": {"phase1": PHASE1}}))
    dump = tmp_path / "dump.json"
    # apply-myid.php loads <its prefix>/pkg/s2s-agent.inc; files/ mirrors the installed
    # layout, so the source file finds the source .inc. pfSense's own includes (config.inc,
    # ...) come from include_path, here the stand-ins.
    env = {**os.environ, "S2S_TEST_CONFIG": str(cfg_file), "S2S_TEST_DUMP": str(dump)}
    r = subprocess.run(
        [php, "-d", f"include_path={STUBS}", str(APPLY), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    state = json.loads(dump.read_text()) if dump.exists() else {}
    return r.returncode, json.loads(r.stdout), state


def test_apply_myid_changes_address_identifier(tmp_path):
    code, out, state = run_apply(tmp_path, "--ikeid", "1", "--ip", "203.0.113.9")
    assert (code, out) == (0, {"changed": True, "old": "203.0.113.5", "new": "203.0.113.9"})
    assert state["config"]["ipsec"]["phase1"][0]["myid_data"] == "203.0.113.9"
    names = [c[0] for c in state["calls"]]
    assert names == ["write_config", "ipsec_configure"]
    assert state["calls"][0][1].startswith("s2s-agent: ")


def test_apply_myid_same_address_is_a_no_op(tmp_path):
    code, out, state = run_apply(tmp_path, "--ikeid", "1", "--ip", "203.0.113.5")
    assert (code, out["changed"]) == (0, False)
    assert state["calls"] == []


def test_apply_myid_refuses_other_identifier_types_and_unknown_ikeid(tmp_path):
    code, out, _ = run_apply(tmp_path, "--ikeid", "2", "--ip", "203.0.113.9")
    assert code == 1 and "myaddress" in out["error"]
    code, out, _ = run_apply(tmp_path, "--ikeid", "7", "--ip", "203.0.113.9")
    assert code == 1 and "ikeid 7" in out["error"]


@pytest.mark.parametrize(
    "args", [(), ("--ikeid", "x", "--ip", "1.2.3.4"), ("--ikeid", "1", "--ip", "999.1.1.1")]
)
def test_apply_myid_usage_errors_exit_2(tmp_path, args):
    code, out, _ = run_apply(tmp_path, *args)
    assert code == 2 and "error" in out


def test_apply_myid_loads_only_the_inc_of_its_own_prefix(tmp_path):
    """No environment variable, working directory or include_path entry can make the
    root-run helper load another s2s-agent.inc."""
    php = require_tool("php")
    evil = tmp_path / "s2s-agent.inc"
    evil.write_text('<?php echo "EVIL\\n"; exit(9);\n')
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps({"ipsec": {"phase1": PHASE1}}))
    env = {**os.environ, "S2S_AGENT_INC": str(evil), "S2S_TEST_CONFIG": str(cfg_file)}
    r = subprocess.run(
        [php, "-d", f"include_path={tmp_path}:{STUBS}", str(APPLY), "--ikeid", "1", "--ip",
         "203.0.113.5"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert "EVIL" not in r.stdout and r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["changed"] is False
    # a copy in another root uses that root's .inc
    root = tmp_path / "root"
    (root / "libexec/s2s-agent").mkdir(parents=True)
    (root / "pkg").mkdir()
    (root / "libexec/s2s-agent/apply-myid.php").write_text(APPLY.read_text())
    (root / "pkg/s2s-agent.inc").write_text(
        "<?php function s2s_agent_apply_myid($i, $ip) { return array('error' => 'copy'); }\n"
    )
    r = subprocess.run(
        [php, str(root / "libexec/s2s-agent/apply-myid.php"), "--ikeid", "1", "--ip", "1.2.3.4"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert (r.returncode, json.loads(r.stdout)) == (1, {"error": "copy"})
