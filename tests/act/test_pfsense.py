"""pfSense backend: config.xml reader, My identifier planner, the PHP helper call.

Fixtures ``tests/golden/pfsense/config-2.{4,7}.xml`` are pfSense's factory config.xml with
``<ipsec>`` entries as the GUI writes them (2.4: config version 19.1, flat phase 1
algorithms; 2.7: 23.3, ``<encryption><item>``)."""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from s2s_agent.act.pfsense import (
    MyidResult,
    apply_myid,
    load_phase1,
    pfsense_conn_names,
    plan_myid,
    read_phase1,
)
from s2s_agent.config.pfsense import PfsenseSettings, parse_pfsense
from s2s_agent.core import osio
from s2s_agent.core.errors import CommandError, ConfigError, LocalApplyError, S2SError
from tests.pkg.pfconfig import to_php  # config.xml as pfSense's parser returns it

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "pfsense"
FIX27 = (GOLDEN / "config-2.7.xml").read_text()
FIX24 = (GOLDEN / "config-2.4.xml").read_text()
STUBS = ROOT / "tests" / "pkg" / "php_stubs"
FILES = ROOT / "pkg" / "pfSense-pkg-s2s-agent" / "files"
INC = FILES / "usr/local/pkg/s2s-agent.inc"
HELPER = FILES / "usr/local/libexec/s2s-agent/apply-myid.php"


# --- settings -----------------------------------------------------------------------------


def test_parse_pfsense_defaults_and_values():
    s = parse_pfsense({"config_xml": "/cf/conf/config.xml", "ikeid": 1}, "/x.yaml")
    assert s == PfsenseSettings("/cf/conf/config.xml", 1, None)
    assert parse_pfsense({"descr": "Azure HQ"}, "/x.yaml").descr == "Azure HQ"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (None, "pfsense.ikeid"),
        ({"ikeid": 0}, "pfsense.ikeid"),
        ({"ikeid": "1"}, "pfsense.ikeid"),
        ({"ikeid": 1, "config_xml": "conf/config.xml"}, "pfsense.config_xml"),
        ({"ikeid": 1, "ikeids": 2}, "pfsense.ikeids"),
        ([1], "pfsense"),
    ],
)
def test_parse_pfsense_names_the_bad_key(data, key):
    with pytest.raises(ConfigError) as exc:
        parse_pfsense(data, "/etc/s2s.yaml")
    assert exc.value.key == key and exc.value.path == "/etc/s2s.yaml"


# --- reader -------------------------------------------------------------------------------


def test_read_phase1_27_address_identifier_with_phase2s():
    p1 = read_phase1(FIX27, 1, source="/cf/conf/config.xml")
    assert (p1.ikeid, p1.iketype, p1.interface, p1.remote_gateway) == (
        1,
        "ikev2",
        "wan",
        "20.61.14.9",
    )
    assert (p1.myid_type, p1.myid_data) == ("address", "198.51.100.7")
    assert (p1.peerid_type, p1.peerid_data) == ("peeraddress", None)
    assert (p1.dpd_delay, p1.dpd_maxfail, p1.disabled, p1.splitconn) == (10, 5, False, False)
    assert p1.descr == "Azure HQ (vng-hq)"
    assert [(p.reqid, p.localid, p.remoteid, p.pinghost, p.keepalive) for p in p1.phase2] == [
        (1, "192.168.1.0/24", "10.1.10.0/24", "10.1.10.4", True),
        (2, "lan", "10.1.20.0/24", None, False),
    ]
    assert pfsense_conn_names(p1) == ("con1", ("con1",))


def test_read_phase1_by_description_and_other_types():
    p2 = read_phase1(FIX27, descr="Branch Lyon")
    assert (p2.ikeid, p2.myid_type, p2.myid_data) == (2, "myaddress", None)
    p3 = read_phase1(FIX27, 3)
    assert (p3.myid_type, p3.myid_data, p3.splitconn) == ("fqdn", "fw.office.example.com", True)
    # split connections: one child per enabled phase 2, named by reqid
    assert pfsense_conn_names(p3) == ("con3", ("con3_4", "con3_5"))
    assert read_phase1(FIX27, 4).disabled


def test_read_phase1_24_style():
    p1 = read_phase1(FIX24, 1)
    assert (p1.iketype, p1.myid_type, p1.myid_data) == ("ikev2", "address", "198.51.100.7")
    assert [p.reqid for p in p1.phase2] == [1]
    v1 = read_phase1(FIX24, 2)
    assert v1.iketype == "ikev1" and v1.myid_type == "myaddress"
    assert pfsense_conn_names(v1) == ("con2", ("con2_2", "con2_3"))


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("<pfsense><ipsec>", "not well-formed"),
        ("<opnsense><ipsec/></opnsense>", "<opnsense>"),
        ("<pfsense><ipsec/></pfsense>", "no IPsec phase 1 with ikeid 1 (phase 1 entries: none)"),
        ("<pfsense/>", "no IPsec phase 1"),
        ('<!DOCTYPE x [<!ENTITY a "b">]><pfsense/>', "DOCTYPE"),
        (
            "<pfsense><ipsec><phase1><ikeid>1</ikeid><dpd_delay>ten</dpd_delay></phase1></ipsec></pfsense>",
            "'ten', not a number",
        ),
        (
            "<pfsense><ipsec><phase1><ikeid>1</ikeid></phase1><phase1><ikeid>1</ikeid></phase1>"
            "</ipsec></pfsense>",
            "2 IPsec phase 1 entries match",
        ),
        (
            "<pfsense><ipsec><phase1><ikeid>1</ikeid></phase1><phase2><ikeid>1</ikeid><reqid>x"
            "</reqid></phase2></ipsec></pfsense>",
            "ipsec/phase2[ikeid=1]/reqid: <reqid> is 'x'",
        ),
    ],
)
def test_broken_config_xml_names_file_and_problem(text, words):
    with pytest.raises(ConfigError) as exc:
        read_phase1(text, 1, source="/cf/conf/config.xml")
    assert "/cf/conf/config.xml" in str(exc.value) and words in str(exc.value)


def test_unknown_ikeid_lists_what_exists():
    with pytest.raises(
        ConfigError, match=r"ikeid 9 .*1 \(Azure HQ \(vng-hq\)\), 2 \(Branch Lyon\)"
    ):
        read_phase1(FIX27, 9)


def test_load_phase1_reads_the_file(tmp_path):
    f = tmp_path / "config.xml"
    f.write_text(FIX24)
    assert load_phase1(PfsenseSettings(str(f), 1)).myid_data == "198.51.100.7"
    with pytest.raises(ConfigError, match="cannot be read"):
        load_phase1(PfsenseSettings(str(tmp_path / "missing.xml"), 1))


# --- planner ------------------------------------------------------------------------------


def test_plan_address_identifier_is_set_when_it_differs():
    p1 = read_phase1(FIX27, 1)
    plan = plan_myid(p1, "203.0.113.9")
    assert (plan.action, plan.old, plan.new) == ("set", "198.51.100.7", "203.0.113.9")
    same = plan_myid(p1, "198.51.100.7")
    assert same.action == "none" and "already" in same.reason


def test_plan_myaddress_and_fqdn_are_none_with_reasons():
    plan = plan_myid(read_phase1(FIX27, 2), "203.0.113.9")
    assert plan.action == "none" and "rc.newwanip" in plan.reason
    plan = plan_myid(read_phase1(FIX27, 3), "203.0.113.9")
    assert plan.action == "none" and "fqdn fw.office.example.com" in plan.reason
    assert "must match" in plan.reason


def test_plan_disabled_phase1_is_an_error():
    with pytest.raises(ConfigError, match="disabled"):
        plan_myid(read_phase1(FIX27, 4), "203.0.113.9")


def test_plan_rejects_a_non_ip():
    with pytest.raises(LocalApplyError):
        plan_myid(read_phase1(FIX27, 1), "example.com")


# --- the PHP helper, through a fake runner --------------------------------------------------


def fake_runner(stdout: str, code: int = 0, stderr: str = "", calls: list | None = None):
    def run(argv, *, timeout, ok_codes=(0,), **_kw):
        if calls is not None:
            calls.append((list(argv), timeout))
        if code not in ok_codes:
            raise CommandError(argv, f"exited with status {code}", returncode=code)
        return osio.Result(tuple(argv), code, stdout, stderr)

    return run


def test_apply_myid_parses_the_helper_answer():
    calls: list = []
    out = '{"changed": true, "old": "198.51.100.7", "new": "203.0.113.9"}\n'
    res = apply_myid(1, "203.0.113.9", runner=fake_runner(out, calls=calls))
    assert res == MyidResult(True, "198.51.100.7", "203.0.113.9")
    argv, timeout = calls[0]
    assert (
        argv[1:]
        == ["/usr/local/libexec/s2s-agent/apply-myid.php", "--ikeid", "1", "--ip", "203.0.113.9"]
        and timeout > 0
    )


def test_apply_myid_warns_when_pending_ipsec_edits_were_applied(caplog):
    out = '{"changed": true, "old": "198.51.100.7", "new": "203.0.113.9", "pending_applied": true}'
    with caplog.at_level("WARNING", logger="s2s_agent.act.pfsense"):
        res = apply_myid(1, "203.0.113.9", runner=fake_runner(out + "\n"))
    assert res == MyidResult(True, "198.51.100.7", "203.0.113.9")
    assert any(
        "pending" in r.getMessage() and "VPN > IPsec" in r.getMessage() for r in caplog.records
    )


@pytest.mark.parametrize(
    ("stdout", "code", "words"),
    [
        ('{"error": "no IPsec phase 1 with ikeid 7 in config.xml"}', 1, "ikeid 7"),
        ('{"error": "usage"}', 2, "exit 2"),
        ("PHP Fatal error: require_once(): Failed", 255, "exited with status 255"),
        ("", 0, "without a JSON answer"),
        ('{"changed": true, "old": null, "new": "1.1.1.1"}', 0, "expected new="),
    ],
)
def test_apply_myid_failures_are_typed(stdout, code, words):
    with pytest.raises(LocalApplyError) as exc:
        apply_myid(1, "203.0.113.9", runner=fake_runner(stdout, code))
    assert words in str(exc.value) and exc.value.step == "apply-myid"


def test_apply_myid_missing_php():
    with pytest.raises(LocalApplyError, match="command not found"):
        apply_myid(1, "203.0.113.9", php="/nonexistent/php")


# --- planner and the real helper agree (php-cli + the package's stubs) ---------------------


@pytest.fixture
def php_helper(tmp_path, monkeypatch):
    php = shutil.which("php")
    if php is None:
        pytest.skip("php-cli is not installed (make setup installs it)")

    def prepare(xml_text: str):
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps(to_php(ET.fromstring(xml_text))))
        dump = tmp_path / "dump.json"
        dump.unlink(missing_ok=True)
        monkeypatch.setenv("S2S_TEST_CONFIG", str(cfg))
        monkeypatch.setenv("S2S_TEST_DUMP", str(dump))
        # the fake swanctl of tests/pkg/php_stubs: charon has what config.xml says (the
        # helper waits until charon has loaded the new identifier)
        conf = tmp_path / "swanctl.conf"
        p1s = to_php(ET.fromstring(xml_text)).get("ipsec", {}).get("phase1", [])
        conf.write_text("".join(f"con{p['ikeid']} {p.get('myid_data') or '%any'}\n" for p in p1s))
        monkeypatch.setenv("S2S_TEST_LOADED", str(tmp_path / "loaded"))
        monkeypatch.setenv("S2S_TEST_VARRUN", str(tmp_path))
        prepend = tmp_path / "prepend.php"
        prepend.write_text(
            f"<?php define('S2S_AGENT_SWANCTL', '{STUBS}/fake-swanctl');\n"
            f"define('S2S_AGENT_SWANCTL_CONF', '{conf}');\n"
        )

        def runner(argv, **kw):  # php -d include_path=<stubs> helper ...
            return osio.run(
                [
                    argv[0],
                    "-d",
                    f"include_path={STUBS}",
                    "-d",
                    f"auto_prepend_file={prepend}",
                    *argv[1:],
                ],
                **kw,
            )

        return runner, dump

    return php, prepare


CASES = [(fx, i) for fx, ids in ((FIX27, (1, 2, 3)), (FIX24, (1, 2))) for i in ids]


@pytest.mark.parametrize(
    ("fixture", "ikeid"), CASES, ids=[f"{'2.7' if f is FIX27 else '2.4'}-p1-{i}" for f, i in CASES]
)
@pytest.mark.parametrize("ip", ["203.0.113.9", "198.51.100.7"])
def test_planner_and_php_helper_agree(php_helper, fixture, ikeid, ip):
    php, prepare = php_helper
    phase1 = read_phase1(fixture, ikeid)
    plan = plan_myid(phase1, ip)
    runner, dump = prepare(fixture)
    if plan.action == "set":
        res = apply_myid(ikeid, ip, runner=runner, php=php, helper=str(HELPER))
        assert res == MyidResult(True, plan.old, ip)
        state = json.loads(dump.read_text())
        p1 = [p for p in state["config"]["ipsec"]["phase1"] if p["ikeid"] == str(ikeid)][0]
        assert p1["myid_data"] == ip
        calls = [c[0] for c in state["calls"]]
        assert calls == ["write_config", "ipsec_configure", "ipsec_reload_package_hook"]
    elif phase1.myid_type == "address":  # already right: the helper is a no-op too
        res = apply_myid(ikeid, ip, runner=runner, php=php, helper=str(HELPER))
        assert res == MyidResult(False, ip, ip)
        assert json.loads(dump.read_text())["calls"] == []
    else:  # myaddress / fqdn: the planner says none, the helper refuses to write
        with pytest.raises(LocalApplyError, match="not 'address'"):
            apply_myid(ikeid, ip, runner=runner, php=php, helper=str(HELPER))
        assert json.loads(dump.read_text())["calls"] == []


def test_php_helper_unknown_ikeid_is_an_error(php_helper):
    php, prepare = php_helper
    runner, _ = prepare(FIX27)
    with pytest.raises(S2SError, match="no IPsec phase 1 with ikeid 9"):
        apply_myid(9, "203.0.113.9", runner=runner, php=php, helper=str(HELPER))
    assert os.path.exists(HELPER)
