"""apply-myid's wait for strongSwan (s2s-agent-myid.inc) against a REAL charon of the lab:
the real swanctl 5.9.8 loads a swanctl.conf with a new local id, and the loaded id is read
back from `swanctl --list-conns`, as on pfSense after ipsec_configure()."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.lab import config as labconfig

from .conftest import FILES

pytestmark = pytest.mark.lab

MYID_INC = FILES / "usr/local/pkg/s2s-agent-myid.inc"
NEW_ID = "192.0.2.77"


def confirm(lab, conf: str, ip: str, timeout: int) -> dict:
    php = shutil.which("php")
    if php is None:
        pytest.skip("php-cli is not installed")
    code = (
        f"define('S2S_AGENT_SWANCTL', {json.dumps(shutil.which('swanctl') or '/usr/sbin/swanctl')});"
        f"define('S2S_AGENT_SWANCTL_CONF', {json.dumps(conf)});"
        f"require {json.dumps(str(MYID_INC))};"
        "$t = microtime(true);"
        f"$err = s2s_agent_confirm_loaded(1, {json.dumps(ip)}, {timeout});"
        "echo json_encode(['error' => $err, 'seconds' => microtime(true) - $t]);"
    )
    res = lab.exec("onprem", [php, "-r", code], timeout=timeout + 30)
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_confirm_loads_and_reads_back_the_new_local_id(lab, tmp_path):
    conf = lab.dir("onprem") / "etc" / "swanctl" / "swanctl.conf"
    original = conf.read_text()
    old = labconfig.ONPREM_WAN
    assert f"id = {old}" in original
    changed = tmp_path / "swanctl.conf"
    changed.write_text(original.replace(f"id = {old}", f"id = {NEW_ID}", 1))
    try:
        out = confirm(lab, str(changed), NEW_ID, 15)
        assert out["error"] is None, out
        # and a config that never gets the id: an error naming what charon has loaded
        out = confirm(lab, str(conf), "192.0.2.99", 2)
        assert "did not load con1 with local id 192.0.2.99" in out["error"]
        assert f"loaded: {old}" in out["error"]
    finally:
        lab.exec("onprem", [shutil.which("swanctl") or "swanctl", "--load-conns"], timeout=15)


def test_refresh_wait_and_parse_read_real_local_addrs(lab, tmp_path):
    """--refresh waits for charon's local_addrs (the "  local:  ADDR" line of the real
    swanctl 5.9.8 --list-conns), parsed by s2s_agent_parse_local_addrs."""
    php = shutil.which("php")
    if php is None:
        pytest.skip("php-cli is not installed")
    swanctl = shutil.which("swanctl") or "/usr/sbin/swanctl"
    conf = lab.dir("onprem") / "etc" / "swanctl" / "swanctl.conf"
    original = conf.read_text()
    old, new = labconfig.ONPREM_WAN, labconfig.ONPREM_WAN2
    assert f"local_addrs = {old}" in original
    moved = tmp_path / "swanctl.conf"
    moved.write_text(original.replace(f"local_addrs = {old}", f"local_addrs = {new}", 1))

    def run(path: str, want: dict, timeout: int) -> dict:
        code = (
            f"define('S2S_AGENT_SWANCTL', {json.dumps(swanctl)});"
            f"define('S2S_AGENT_SWANCTL_CONF', {json.dumps(path)});"
            f"require {json.dumps(str(MYID_INC))};"
            "$before = s2s_agent_parse_local_addrs(s2s_agent_list_conns(), 'con1');"
            f"$want = json_decode({json.dumps(json.dumps(want))}, true);"
            f"$err = s2s_agent_confirm_loaded_all(['1' => $want], {timeout});"
            "echo json_encode(['before' => $before, 'error' => $err['1'],"
            " 'after' => s2s_agent_parse_local_addrs(s2s_agent_list_conns(), 'con1')]);"
        )
        res = lab.exec("onprem", [php, "-r", code], timeout=timeout + 30)
        return json.loads(res.stdout.strip().splitlines()[-1])

    try:
        out = run(str(moved), {"id": None, "addr": new}, 15)
        assert (out["before"], out["error"], out["after"]) == ([old], None, [new]), out
        out = run(str(moved), {"id": None, "addr": "192.0.2.99"}, 2)
        assert "did not load con1 with local address 192.0.2.99" in out["error"]
        assert f"loaded: local address {new}" in out["error"]
    finally:
        lab.exec("onprem", [swanctl, "--load-conns"], timeout=15)
