"""resolve-src.php's command line and failure answers under php-cli, without pfSense's
source (its resolution against pfSense's real includes: test_resolve_src.py). pfSense's own
includes come from include_path; here a directory of stand-ins the test writes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .conftest import FILES, require_tool

RESOLVE = FILES / "usr/local/libexec/s2s-agent/resolve-src.php"
NAMES = ("config.inc", "util.inc", "interfaces.inc", "gwlb.inc", "ipsec.inc", "pfsense-utils.inc")


def run(tmp_path: Path, *args: str, config_inc: str = "", script: Path = RESOLVE):
    php = require_tool("php")
    inc = tmp_path / "inc"
    inc.mkdir(exist_ok=True)
    for name in NAMES:  # empty stand-ins of pfSense's includes, config.inc as given
        (inc / name).write_text("<?php\n" + (config_inc if name == "config.inc" else ""))
    r = subprocess.run(
        [php, "-d", f"include_path={inc}", str(script), *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    return r.returncode, r.stdout


@pytest.mark.parametrize("args", [("x",), ("1", "-2"), ("--all",), ("1", "")])
def test_usage_errors_exit_2_with_one_json_line(tmp_path, args):
    code, out = run(tmp_path, *args)
    assert code == 2 and out.count("\n") == 1 and "usage" in json.loads(out)["error"]


def test_config_inc_dying_is_exit_1_with_one_json_line(tmp_path):
    """pfSense's config.inc die()s (printing why) when config.xml cannot be read or restored."""
    code, out = run(tmp_path, "1", config_inc='die("Config.xml is corrupted and is 0 bytes.");')
    assert code == 1 and out.count("\n") == 1
    err = json.loads(out)["error"]
    assert err.startswith("pfSense's configuration (config.xml) could not be read")
    assert "corrupted" in err


def test_no_config_is_exit_1(tmp_path):
    code, out = run(tmp_path, config_inc="$config = null;")
    assert code == 1 and "could not be read" in json.loads(out)["error"]


def test_answers_only_what_the_resolution_returns_and_nothing_pfsense_printed(tmp_path):
    cfg = '$config = ["version" => "23.3"]; echo "noise from an include\\n";'
    root = tmp_path / "root"
    (root / "libexec/s2s-agent").mkdir(parents=True)
    (root / "pkg").mkdir()
    (root / "libexec/s2s-agent/resolve-src.php").write_text(RESOLVE.read_text())
    (root / "pkg/s2s-agent-src.inc").write_text(
        "<?php function s2s_agent_phase1_sources($ids) {"
        " echo 'more noise'; return [['ikeid' => (int)($ids[0] ?? 0)]]; }\n"
    )
    code, out = run(
        tmp_path, "7", config_inc=cfg, script=root / "libexec/s2s-agent/resolve-src.php"
    )
    assert (code, out) == (0, '{"version":1,"phase1":[{"ikeid":7}]}\n')


def test_loads_only_the_inc_of_its_own_prefix(tmp_path):
    """No include_path entry or working directory can make the root-run helper load
    another s2s-agent-src.inc."""
    (tmp_path / "inc").mkdir()
    (tmp_path / "inc/s2s-agent-src.inc").write_text('<?php echo "EVIL\\n"; exit(9);\n')
    (tmp_path / "s2s-agent-src.inc").write_text('<?php echo "EVIL\\n"; exit(9);\n')
    code, out = run(tmp_path, "1", config_inc='$config = ["version" => "23.3"];')
    assert "EVIL" not in out and code == 1
    # the real .inc ran and met the empty stand-ins: a fatal error is one answer too
    assert json.loads(out)["error"].startswith("resolve-src.php failed: Uncaught Error")
