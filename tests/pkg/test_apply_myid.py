"""apply-myid.php (the PHP helper the agent runs as root to re-apply a phase 1 "My
identifier") against the stand-ins of pfSense's config API (tests/pkg/php_stubs) and a fake
swanctl: it returns only once strongSwan has loaded the new identifier."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from .conftest import FILES, require_tool
from .harness import PHASE1, STUBS

APPLY = FILES / "usr/local/libexec/s2s-agent/apply-myid.php"


STUBS_DIR = STUBS
# Real output of `swanctl --list-conns` (strongSwan 5.9.8, the lab's on-prem side).
LIST_CONNS_SAMPLE = """\
azure: IKEv2, no reauthentication, rekeying every 28800s, dpd delay 10s
  local:  198.51.100.2
  remote: 203.0.113.1
  local pre-shared key authentication:
    id: 198.51.100.2
  remote pre-shared key authentication:
    id: 203.0.113.1
  azure-net: TUNNEL, rekeying every 3600s, dpd action is start
    local:  192.168.1.0/24
    remote: 10.1.10.0/24
"""


def run_apply(
    tmp_path: Path,
    *args: str,
    phase1=None,
    noload: bool = False,
    dirty: bool = False,
    src: dict | None = None,
) -> tuple[int, dict, dict]:
    php = require_tool("php")
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps({"ipsec": {"phase1": phase1 or PHASE1}}))
    dump = tmp_path / "dump.json"
    prepend = tmp_path / "prepend.php"
    prepend.write_text(
        "<?php\n"
        f"define('S2S_AGENT_SWANCTL', {json.dumps(str(STUBS / 'fake-swanctl'))});\n"
        f"define('S2S_AGENT_SWANCTL_CONF', {json.dumps(str(tmp_path / 'swanctl.conf'))});\n"
        "define('S2S_AGENT_LOAD_TIMEOUT', 2);\n"
        f"define('S2S_AGENT_CONTROL_SOCKET', {json.dumps(str(tmp_path / 'agent.sock'))});\n"
        f"define('S2S_AGENT_WAKE_MARK', {json.dumps(str(tmp_path / 'woken'))});\n"
    )
    if dirty:
        (tmp_path / "ipsec.dirty").write_text("DIRTY")
    # apply-myid.php loads <its prefix>/pkg/s2s-agent.inc; files/ mirrors the installed
    # layout, so the source file finds the source .inc. pfSense's own includes (config.inc,
    # ...) come from include_path, here the stand-ins.
    env = {
        **os.environ,
        "S2S_TEST_CONFIG": str(cfg_file),
        "S2S_TEST_DUMP": str(dump),
        "S2S_TEST_LOADED": str(tmp_path / "loaded"),
        "S2S_TEST_VARRUN": str(tmp_path),
        "S2S_TEST_SWANCTL_NOLOAD": "1" if noload else "0",
        "S2S_TEST_SRC": json.dumps(src or {}),  # ipsec_get_phase1_src stand-in: if -> address
    }
    r = subprocess.run(
        [
            php,
            "-d",
            f"include_path={STUBS}",
            "-d",
            f"auto_prepend_file={prepend}",
            str(APPLY),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    state = json.loads(dump.read_text()) if dump.exists() else {}
    return r.returncode, json.loads(r.stdout), state


def loaded_id(tmp_path: Path, conn: str = "con1") -> str | None:
    for line in (tmp_path / "loaded").read_text().splitlines():
        name, _, lid = line.partition(" ")
        if name == conn:
            return lid
    return None


def test_apply_myid_changes_address_identifier(tmp_path):
    code, out, state = run_apply(tmp_path, "--ikeid", "1", "--ip", "203.0.113.9")
    assert (code, out) == (
        0,
        {"changed": True, "old": "203.0.113.5", "new": "203.0.113.9", "pending_applied": False},
    )
    assert state["config"]["ipsec"]["phase1"][0]["myid_data"] == "203.0.113.9"
    names = [c[0] for c in state["calls"]]
    assert names == ["write_config", "ipsec_configure", "ipsec_reload_package_hook"]
    assert state["calls"][0][1].startswith("s2s-agent: ")
    # it returned only after charon had loaded con1 with the new local id
    assert loaded_id(tmp_path) == "203.0.113.9"
    calls = (tmp_path / "loaded.calls").read_text().splitlines()
    assert calls[0] == f"--load-conns --file {tmp_path}/swanctl.conf"  # swanctl 5.9.8 options
    assert calls[1] == "--list-conns"


def test_apply_myid_fails_when_strongswan_does_not_load_the_new_id(tmp_path):
    """ipsec_configure() only starts "strongswanrc reload" in the background: without a
    confirmed load the agent would restart the tunnel with the old identifier."""
    (tmp_path / "loaded").write_text("con1 203.0.113.5\n")  # charon still has the old one
    code, out, _ = run_apply(tmp_path, "--ikeid", "1", "--ip", "203.0.113.9", noload=True)
    assert code == 1
    assert "did not load con1 with local id 203.0.113.9" in out["error"]
    assert "loaded: 203.0.113.5" in out["error"]


def test_apply_myid_applies_and_reports_pending_ipsec_edits(tmp_path):
    code, out, state = run_apply(tmp_path, "--ikeid", "1", "--ip", "203.0.113.9", dirty=True)
    assert code == 0 and out["pending_applied"] is True
    assert not (tmp_path / "ipsec.dirty").exists()  # as VPN > IPsec's Apply clears it
    logs = [c[1] for c in state["calls"] if c[0] == "log_error"]
    assert any("pending" in m and "applied" in m for m in logs), logs


def test_apply_myid_same_address_is_a_no_op(tmp_path):
    (tmp_path / "swanctl.conf").write_text("con1 203.0.113.5\n")
    code, out, state = run_apply(tmp_path, "--ikeid", "1", "--ip", "203.0.113.5")
    assert (code, out["changed"]) == (0, False)
    assert state["calls"] == []  # config.xml untouched, ipsec_configure not run


def test_apply_myid_refuses_other_identifier_types_and_unknown_ikeid(tmp_path):
    code, out, _ = run_apply(tmp_path, "--ikeid", "2", "--ip", "203.0.113.9")
    assert code == 1 and "myaddress" in out["error"]
    code, out, _ = run_apply(tmp_path, "--ikeid", "7", "--ip", "203.0.113.9")
    assert code == 1 and "ikeid 7" in out["error"]


@pytest.mark.parametrize(
    ("protocol", "ip", "ok"),
    [
        (None, "2001:db8::9", False),
        ("inet", "2001:db8::9", False),
        ("inet6", "203.0.113.9", False),
        ("inet6", "2001:db8::9", True),
        ("both", "2001:db8::9", True),
    ],
)
def test_apply_myid_keeps_the_address_family_of_the_phase_1(tmp_path, protocol, ip, ok):
    p1 = {**PHASE1[0], **({"protocol": protocol} if protocol else {})}
    code, out, state = run_apply(tmp_path, "--ikeid", "1", "--ip", ip, phase1=[p1])
    assert (code == 0) is ok, out
    if not ok:
        assert "IPv" in out["error"] and state["calls"] == []


def test_apply_myid_refuses_a_disabled_phase_1(tmp_path):
    code, out, state = run_apply(
        tmp_path, "--ikeid", "1", "--ip", "203.0.113.9", phase1=[{**PHASE1[0], "disabled": ""}]
    )
    assert code == 1 and "disabled" in out["error"] and state["calls"] == []


def test_parse_local_ids_of_real_swanctl_output():
    php = require_tool("php")
    inc = FILES / "usr/local/pkg/s2s-agent-myid.inc"
    code = (
        f"require {json.dumps(str(inc))};"
        f"echo json_encode([s2s_agent_parse_local_ids({json.dumps(LIST_CONNS_SAMPLE)}, 'azure'),"
        f" s2s_agent_parse_local_ids({json.dumps(LIST_CONNS_SAMPLE)}, 'azure-net')]);"
    )
    r = subprocess.run([php, "-r", code], capture_output=True, text=True, timeout=60)
    assert json.loads(r.stdout) == [["198.51.100.2"], []], r.stderr


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
    prepend = tmp_path / "prepend.php"
    prepend.write_text("<?php define('S2S_AGENT_LOAD_TIMEOUT', 1);\n")
    r = subprocess.run(
        [
            php,
            "-d",
            f"include_path={tmp_path}:{STUBS}",
            "-d",
            f"auto_prepend_file={prepend}",
            str(APPLY),
            "--ikeid",
            "1",
            "--ip",
            "203.0.113.5",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert "EVIL" not in r.stdout, r.stdout + r.stderr
    assert "error" in json.loads(r.stdout)  # the real .inc ran (no charon here)
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
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert (r.returncode, json.loads(r.stdout)) == (1, {"error": "copy"})


# ---- several phase 1s in one write: --set IKEID=IP ... ----------------------------------
def _p1(ikeid: str, myid: str, **extra) -> dict:
    return {
        "ikeid": ikeid,
        "descr": f"Azure {ikeid}",
        "remote-gateway": f"198.51.100.{ikeid}",
        "myid_type": "address",
        "myid_data": myid,
        **extra,
    }


THREE = [_p1("1", "203.0.113.5"), _p1("3", "203.0.113.5"), _p1("4", "203.0.113.5")]


def test_apply_myid_set_changes_three_phase_1s_in_one_write(tmp_path):
    code, out, state = run_apply(
        tmp_path,
        *("--set", "1=203.0.113.9", "--set", "3=203.0.113.9", "--set", "4=203.0.113.9"),
        phase1=THREE,
    )
    assert code == 0, out
    assert out == {
        "results": [
            {"ikeid": i, "changed": True, "old": "203.0.113.5", "new": "203.0.113.9", "error": None}
            for i in (1, 3, 4)
        ],
        "pending_applied": False,
    }
    assert [p["myid_data"] for p in state["config"]["ipsec"]["phase1"]] == ["203.0.113.9"] * 3
    names = [c[0] for c in state["calls"]]
    assert names == ["write_config", "ipsec_configure", "ipsec_reload_package_hook"]
    desc = state["calls"][0][1]
    assert desc.startswith("s2s-agent: ") and all(f"phase 1 {i} " in desc for i in (1, 3, 4))
    assert [loaded_id(tmp_path, f"con{i}") for i in (1, 3, 4)] == ["203.0.113.9"] * 3
    # its own ipsec_reload_package_hook() does not wake the agent (no agent here: a wake
    # attempt would leave the "unreachable" mark)
    assert not (tmp_path / "woken").exists()
    # one load and one listing confirmed all three (not one round per phase 1)
    calls = (tmp_path / "loaded.calls").read_text().splitlines()
    assert calls == [f"--load-conns --file {tmp_path}/swanctl.conf", "--list-conns"]


def test_apply_myid_set_a_bad_phase_1_fails_alone(tmp_path):
    phase1 = [
        _p1("1", "203.0.113.5"),
        _p1("2", "203.0.113.5", disabled=""),
        {"ikeid": "5", "descr": "other", "myid_type": "myaddress"},
        _p1("4", "203.0.113.9"),  # already right
        _p1("6", "203.0.113.5"),
    ]
    args = ("1=203.0.113.9", "2=203.0.113.9", "5=203.0.113.9", "9=203.0.113.9")
    args += ("4=203.0.113.9", "6=2001:db8::9", "3=203.0.113.9")
    argv = [a for s in args for a in ("--set", s)]
    code, out, state = run_apply(tmp_path, *argv, phase1=phase1)
    assert code == 1
    res = {r["ikeid"]: r for r in out["results"]}
    assert [r["ikeid"] for r in out["results"]] == [1, 2, 5, 9, 4, 6, 3]  # the order asked
    assert res[1] == {
        "ikeid": 1,
        "changed": True,
        "old": "203.0.113.5",
        "new": "203.0.113.9",
        "error": None,
    }
    assert res[4]["error"] is None and res[4]["changed"] is False
    assert "disabled" in res[2]["error"] and res[2]["changed"] is False
    assert "myaddress" in res[5]["error"]
    assert "ikeid 9" in res[9]["error"] and "ikeid 3" in res[3]["error"]
    assert "inet" in res[6]["error"] and "IPv6" in res[6]["error"]
    cfg = {p["ikeid"]: p.get("myid_data") for p in state["config"]["ipsec"]["phase1"]}
    assert cfg == {
        "1": "203.0.113.9",
        "2": "203.0.113.5",
        "5": None,
        "4": "203.0.113.9",
        "6": "203.0.113.5",
    }
    assert [c[0] for c in state["calls"]].count("write_config") == 1


def test_apply_myid_set_reports_the_phase_1_charon_did_not_load(tmp_path):
    # charon keeps what it has: con1 already has the new id, con3 keeps the old one
    (tmp_path / "loaded").write_text("con1 203.0.113.9\ncon3 203.0.113.5\n")
    code, out, _ = run_apply(
        tmp_path, "--set", "1=203.0.113.9", "--set", "3=203.0.113.9", phase1=THREE, noload=True
    )
    assert code == 1
    r1, r3 = out["results"]
    assert r1["error"] is None and r1["changed"] is True
    assert "did not load con3 with local id 203.0.113.9" in r3["error"]
    assert r3["changed"] is True  # config.xml has it; charon does not


def test_apply_myid_set_nothing_to_change_writes_nothing(tmp_path):
    (tmp_path / "swanctl.conf").write_text("con1 203.0.113.5\ncon3 203.0.113.5\n")
    code, out, state = run_apply(
        tmp_path, "--set", "1=203.0.113.5", "--set", "3=203.0.113.5", phase1=THREE
    )
    assert code == 0 and [r["changed"] for r in out["results"]] == [False, False]
    assert state["calls"] == []


@pytest.mark.parametrize(
    "args",
    [
        ("--set", "1"),
        ("--set", "x=203.0.113.9"),
        ("--set", "1=999.1.1.1"),
        ("--set", "1=203.0.113.9", "--set", "1=203.0.113.8"),
        ("--set", "1=203.0.113.9", "--ikeid", "1", "--ip", "203.0.113.9"),
        ("--set", "1=203.0.113.9", "stray"),
    ],
)
def test_apply_myid_set_usage_errors_exit_2(tmp_path, args):
    code, out, state = run_apply(tmp_path, *args, phase1=THREE)
    assert code == 2 and "error" in out and state.get("calls", []) == []


# ---- --refresh IKEID: charon gets the new source now, no config write -------------------
WAN1, WAN2 = "100.64.0.1", "100.64.0.2"  # the gateway group's members' addresses
GROUP = [
    {
        "ikeid": "2",
        "descr": "Azure on WAN_FAILOVER",
        "interface": "WAN_FAILOVER",  # a gateway group (tier 1 WAN1GW, tier 2 WAN2GW)
        "protocol": "inet",
        "remote-gateway": "198.51.100.2",
        "myid_type": "myaddress",
    },
    {**_p1("1", "203.0.113.5"), "protocol": "inet"},
    {
        "ikeid": "3",
        "descr": "static id on the group",
        "interface": "WAN_FAILOVER",
        "protocol": "inet",
        "myid_type": "address",
        "myid_data": "203.0.113.7",
    },
]


def loaded_row(tmp_path: Path, conn: str) -> list[str]:
    for line in (tmp_path / "loaded").read_text().splitlines():
        if line.split()[0] == conn:
            return line.split()[1:]
    return []


def test_refresh_myaddress_after_a_failover_reloads_once_without_a_config_write(tmp_path):
    """rc.ipsec regenerates IPsec only 12 + 3 s after the failover; until then charon has
    WAN1's address as con2's local_addrs and local id. --refresh: one ipsec_configure, no
    write_config (no Config History entry), back once charon has WAN2's."""
    (tmp_path / "loaded").write_text(f"con2 {WAN1} {WAN1}\ncon1 203.0.113.5\n")
    code, out, state = run_apply(
        tmp_path, "--refresh", "2", phase1=GROUP, src={"WAN_FAILOVER": WAN2}
    )
    assert (code, out) == (
        0,
        {
            "results": [{"ikeid": 2, "changed": True, "old": WAN1, "new": WAN2, "error": None}],
            "pending_applied": False,
        },
    )
    names = [c[0] for c in state["calls"]]
    assert names == ["log_error", "ipsec_configure", "ipsec_reload_package_hook"]
    assert "phase 1 2" in state["calls"][0][1] and "gateway group" in state["calls"][0][1]
    assert state["config"]["ipsec"]["phase1"] == GROUP  # config.xml untouched
    assert loaded_row(tmp_path, "con2") == [WAN2, WAN2]  # local id and local_addrs
    calls = (tmp_path / "loaded.calls").read_text().splitlines()
    assert calls == ["--list-conns", f"--load-conns --file {tmp_path}/swanctl.conf", "--list-conns"]


def test_refresh_when_charon_is_already_right_reloads_nothing(tmp_path):
    (tmp_path / "loaded").write_text(f"con2 {WAN2} {WAN2}\n")
    code, out, state = run_apply(
        tmp_path, "--refresh", "2", phase1=GROUP, src={"WAN_FAILOVER": WAN2}
    )
    assert code == 0
    assert out["results"] == [
        {"ikeid": 2, "changed": False, "old": WAN2, "new": WAN2, "error": None}
    ]
    assert state["calls"] == []
    assert (tmp_path / "loaded.calls").read_text().splitlines() == ["--list-conns"]


def test_refresh_myaddress_with_the_right_address_but_the_old_id_is_stale(tmp_path):
    (tmp_path / "loaded").write_text(f"con2 {WAN1} {WAN2}\n")
    code, out, state = run_apply(
        tmp_path, "--refresh", "2", phase1=GROUP, src={"WAN_FAILOVER": WAN2}
    )
    assert code == 0 and out["results"][0]["changed"] is True
    assert [c[0] for c in state["calls"]].count("ipsec_configure") == 1
    assert loaded_row(tmp_path, "con2") == [WAN2, WAN2]


def test_refresh_of_a_static_id_checks_only_the_local_address(tmp_path):
    (tmp_path / "loaded").write_text(f"con3 203.0.113.7 {WAN2}\n")
    code, out, state = run_apply(
        tmp_path, "--refresh", "3", phase1=GROUP, src={"WAN_FAILOVER": WAN2}
    )
    assert (code, out["results"][0]["changed"], state["calls"]) == (0, False, [])


def test_set_and_refresh_together_are_one_write_and_one_ipsec_configure(tmp_path):
    (tmp_path / "loaded").write_text(f"con1 203.0.113.5\ncon2 {WAN1} {WAN1}\n")
    code, out, state = run_apply(
        tmp_path,
        *("--set", "1=203.0.113.9", "--refresh", "2"),
        phase1=GROUP,
        src={"WAN_FAILOVER": WAN2},
        dirty=True,
    )
    assert code == 0, out
    assert [(r["ikeid"], r["changed"], r["new"], r["error"]) for r in out["results"]] == [
        (1, True, "203.0.113.9", None),
        (2, True, WAN2, None),
    ]
    names = [c[0] for c in state["calls"]]
    assert names.count("write_config") == 1 and names.count("ipsec_configure") == 1
    assert "phase 1 2" not in state["calls"][names.index("write_config")][1]  # only the set one
    assert out["pending_applied"] is True and not (tmp_path / "ipsec.dirty").exists()
    assert loaded_row(tmp_path, "con2") == [WAN2, WAN2]
    assert loaded_row(tmp_path, "con1")[0] == "203.0.113.9"


def test_refresh_a_bad_phase_1_fails_alone_and_charon_not_loading_is_an_error(tmp_path):
    phase1 = [*GROUP, {**GROUP[0], "ikeid": "4", "disabled": ""}]
    phase1.append({**GROUP[0], "ikeid": "5", "interface": "opt9"})  # resolves no address
    (tmp_path / "loaded").write_text(f"con2 {WAN1} {WAN1}\n")
    args = [a for i in ("2", "4", "5", "9") for a in ("--refresh", i)]
    code, out, state = run_apply(
        tmp_path, *args, phase1=phase1, src={"WAN_FAILOVER": WAN2}, noload=True
    )
    assert code == 1
    res = {r["ikeid"]: r for r in out["results"]}
    assert [r["ikeid"] for r in out["results"]] == [2, 4, 5, 9]
    assert "disabled" in res[4]["error"] and "ikeid 9" in res[9]["error"]
    assert "no address" in res[5]["error"] and "opt9" in res[5]["error"]
    err = res[2]["error"]
    assert f"did not load con2 with local id {WAN2} and local address {WAN2}" in err
    assert f"loaded: local id {WAN1}; local address {WAN1}" in err
    assert [c[0] for c in state["calls"]].count("ipsec_configure") == 1


@pytest.mark.parametrize(
    "args",
    [
        ("--refresh", "x"),
        ("--refresh", "2", "--refresh", "2"),
        ("--set", "2=203.0.113.9", "--refresh", "2"),
        ("--refresh", "2", "--ikeid", "1", "--ip", "203.0.113.9"),
    ],
)
def test_refresh_usage_errors_exit_2(tmp_path, args):
    code, out, state = run_apply(tmp_path, *args, phase1=GROUP)
    assert code == 2 and "error" in out and state.get("calls", []) == []


def test_parse_local_addrs_of_real_swanctl_output():
    php = require_tool("php")
    inc = FILES / "usr/local/pkg/s2s-agent-myid.inc"
    two = LIST_CONNS_SAMPLE.replace("local:  198.51.100.2", "local:  198.51.100.2, 2001:db8::2")
    code = (
        f"require {json.dumps(str(inc))};"
        f"echo json_encode([s2s_agent_parse_local_addrs({json.dumps(LIST_CONNS_SAMPLE)}, 'azure'),"
        f" s2s_agent_parse_local_addrs({json.dumps(two)}, 'azure'),"
        f" s2s_agent_parse_local_addrs({json.dumps(LIST_CONNS_SAMPLE)}, 'azure-net'),"
        " s2s_agent_parse_local_addrs(\"con1: IKEv2\\n  local:  %any\\n\", 'con1')]);"
    )
    r = subprocess.run([php, "-r", code], capture_output=True, text=True, timeout=60)
    assert json.loads(r.stdout) == [["198.51.100.2"], ["198.51.100.2", "2001:db8::2"], [], []], (
        r.stderr
    )
