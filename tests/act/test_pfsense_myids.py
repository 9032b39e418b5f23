"""Several phase 1s in one run of the package's apply-myid.php (one write_config): the
agent's call and parser (:func:`apply_myids`), the per-tunnel planner
(:func:`apply_tunnel_myids`) and the multi-tunnel executor's pfSense branch, also against
the real helper under php-cli with the package's stand-ins (tests/pkg/php_stubs)."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from functools import partial
from pathlib import Path

import pytest

from s2s_agent import config
from s2s_agent.act import pfsense
from s2s_agent.act.multiexec import MultiRemediator
from s2s_agent.act.pfsense import (
    MyidBatch,
    MyidOutcome,
    PhaseOneErrors,
    apply_myids,
    apply_tunnel_myids,
)
from s2s_agent.config.pfsense import PfsenseSettings
from s2s_agent.core import osio
from s2s_agent.core.errors import CommandError, LocalApplyError
from tests.pkg.pfconfig import to_php

ROOT = Path(__file__).resolve().parents[2]
FIX27 = (ROOT / "tests/golden/pfsense/config-2.7.xml").read_text()
STUBS = ROOT / "tests/pkg/php_stubs"
HELPER = ROOT / "pkg/pfSense-pkg-s2s-agent/files/usr/local/libexec/s2s-agent/apply-myid.php"
OLD, NEW = "198.51.100.7", "203.0.113.9"


def runner_of(stdout: str, code: int = 0, calls: list | None = None):
    def run(argv, *, timeout, ok_codes=(0,), **_kw):
        if calls is not None:
            calls.append((list(argv), timeout))
        if code not in ok_codes:
            raise CommandError(argv, f"exited with status {code}", returncode=code)
        return osio.Result(tuple(argv), code, stdout, "")

    return run


def row(ikeid, changed=True, old=OLD, new=NEW, error=None):
    return {"ikeid": ikeid, "changed": changed, "old": old, "new": new, "error": error}


def test_apply_myids_sends_every_phase_1_in_one_call_and_parses_each_outcome():
    calls: list = []
    out = json.dumps(
        {"results": [row(1), row(4, error="phase 1 4 is disabled")], "pending_applied": False}
    )
    res = apply_myids([(1, NEW), (4, NEW)], runner=runner_of(out, 1, calls))
    assert len(calls) == 1
    argv, timeout = calls[0]
    assert argv[1:] == [pfsense.HELPER, "--set", f"1={NEW}", "--set", f"4={NEW}"] and timeout > 0
    ok, bad = res.results
    assert ok == MyidOutcome(1, True, OLD, NEW, None)
    assert isinstance(bad.error, LocalApplyError) and bad.error.step == "apply-myid"
    assert "phase 1 4" in str(bad.error) and "disabled" in str(bad.error)


@pytest.mark.parametrize(
    ("stdout", "code", "words"),
    [
        ('{"error": "--set: ikeid 1 given twice"}', 2, "refused the request (exit 2)"),
        ("PHP Fatal error: require_once(): Failed", 255, "exited with status 255"),
        ("", 0, "without a JSON answer"),
        (json.dumps({"results": [row(1)]}), 0, "asked [1, 4]"),  # one missing
        (json.dumps({"results": [row(1), row(4, new="1.1.1.1")]}), 0, "not one of"),
        (json.dumps({"results": [row(1), row(4, changed="yes")]}), 0, "not one of"),
        (json.dumps({"results": [row(1), row(4)]}), 1, "reported no failure"),
    ],
)
def test_apply_myids_a_broken_answer_is_a_typed_error(stdout, code, words):
    with pytest.raises(LocalApplyError) as exc:
        apply_myids([(1, NEW), (4, NEW)], runner=runner_of(stdout, code))
    assert words in str(exc.value) and exc.value.step == "apply-myid"


def test_apply_myids_refresh_goes_in_the_same_run_and_parses_charon_s_address():
    calls: list = []
    out = json.dumps(
        {
            "results": [
                row(1),
                row(2, old="100.64.0.1", new="100.64.0.2"),
                row(3, changed=False, old=None, new=None, error="phase 1 3 is disabled"),
            ],
            "pending_applied": False,
        }
    )
    res = apply_myids([(1, NEW)], [2, 3], runner=runner_of(out, 1, calls))
    assert [c[0][2:] for c in calls] == [["--set", f"1={NEW}", "--refresh", "2", "--refresh", "3"]]
    one, two, three = res.results
    assert one == MyidOutcome(1, True, OLD, NEW, None)
    assert two == MyidOutcome(2, True, "100.64.0.1", "100.64.0.2", None, refresh=True)
    assert three.refresh and "phase 1 3 local address: phase 1 3 is disabled" in str(three.error)
    with pytest.raises(LocalApplyError, match="named twice"):
        apply_myids([(1, NEW)], [1], runner=runner_of(""))
    bad = json.dumps({"results": [row(2, new=None)]})  # no address and no error
    with pytest.raises(LocalApplyError, match="not one of"):
        apply_myids([], [2], runner=runner_of(bad))


def test_apply_myids_refuses_a_phase_1_named_twice_and_does_nothing_for_none():
    with pytest.raises(LocalApplyError, match="named twice"):
        apply_myids([(1, NEW), (1, OLD)], runner=runner_of(""))
    assert apply_myids([], runner=runner_of("")) == MyidBatch((), False)


def test_apply_myids_has_a_deadline_that_ends_a_hanging_helper(tmp_path):
    hang = tmp_path / "php"
    hang.write_text("#!/bin/sh\nsleep 30\n")
    hang.chmod(0o755)
    with pytest.raises(LocalApplyError, match="timed out|timeout"):
        apply_myids([(1, NEW)], php=str(hang), timeout=0.5)


# ---- the per-tunnel planner ------------------------------------------------------------
def settings_for(tmp_path: Path, xml: str = FIX27) -> PfsenseSettings:
    f = tmp_path / "config.xml"
    f.write_text(xml)
    return PfsenseSettings(config_xml=str(f))


def with_phase1(xml: str, ikeid: int, myid: str = OLD, extra: str = "") -> str:
    """FIX27 plus a copy of phase 1 1 as ``ikeid`` (address identifier)."""
    start = xml.index("<phase1>")
    p1 = xml[start : xml.index("</phase1>") + len("</phase1>")]
    new = p1.replace("<ikeid>1</ikeid>", f"<ikeid>{ikeid}</ikeid>{extra}")
    new = new.replace(f"<myid_data>{OLD}</myid_data>", f"<myid_data>{myid}</myid_data>")
    return xml.replace(p1, p1 + "\n\t\t" + new, 1)


def fake_apply(sent: list, charon_had: str | None = OLD, errors: dict | None = None):
    """A stand-in of :func:`apply_myids`: records each run; a refreshed phase 1 is reported
    as pfSense's address ``NEW`` that charon did not have yet (``charon_had``)."""

    def apply(items, refresh=()):
        sent.append((list(items), list(refresh)))
        errs = errors or {}
        out = [MyidOutcome(i, True, OLD, ip, errs.get(i)) for i, ip in items]
        out += [
            MyidOutcome(i, charon_had != NEW, charon_had, NEW, errs.get(i), refresh=True)
            for i in refresh
        ]
        return MyidBatch(tuple(out), False)

    return apply


def test_apply_tunnel_myids_plans_each_and_sends_one_run_static_ids_set_others_refreshed(
    tmp_path,
):
    xml = with_phase1(with_phase1(FIX27, 7), 8, extra="<disabled></disabled>")
    sent: list = []
    items = [("hq", 1, NEW), ("lyon", 2, NEW), ("aa", 7, NEW), ("off", 8, NEW), ("gone", 9, NEW)]
    with pytest.raises(PhaseOneErrors) as exc:
        apply_tunnel_myids(settings_for(tmp_path, xml), items, apply=fake_apply(sent))
    # one run: the two static identifiers set, lyon's "My IP address" phase 1 refreshed
    assert sent == [([(1, NEW), (7, NEW)], [2])]
    assert sorted(exc.value.failed) == ["gone", "off"]
    assert "disabled" in str(exc.value.failed["off"]) and "ikeid 9" in str(exc.value.failed["gone"])
    done = exc.value.done
    assert f"phase 1 1 My identifier {OLD} -> {NEW}" in done and "phase 1 7" in done
    assert "My IP address" in done
    assert f"phase 1 2: charon's local address {OLD} -> {NEW} (IPsec regenerated now" in done


def test_apply_tunnel_myids_refreshes_my_ip_address_after_a_failover(tmp_path):
    """The bug: a "My IP address" phase 1 was planned "none" and nothing ran, so after a
    gateway-group failover (no rc.newwanip; rc.ipsec waits 12 + 3 s) the agent restarted
    and verified while charon still had WAN1's local address and id."""
    sent: list = []
    detail = apply_tunnel_myids(settings_for(tmp_path), [("lyon", 2, NEW)], apply=fake_apply(sent))
    assert sent == [([], [2])]
    assert f"phase 1 2: charon's local address {OLD} -> {NEW}" in detail
    sent.clear()
    detail = apply_tunnel_myids(
        settings_for(tmp_path), [("lyon", 2, NEW)], apply=fake_apply(sent, charon_had=NEW)
    )
    assert sent == [([], [2])] and f"phase 1 2: charon already uses {NEW}" in detail


def test_apply_tunnel_myids_a_refresh_failure_fails_every_tunnel_of_that_phase_1(tmp_path):
    sent: list = []
    err = LocalApplyError("apply-myid", "phase 1 2 local address: strongSwan did not load con2")
    items = [("a", 2, NEW), ("b", 2, NEW), ("hq", 1, NEW)]
    with pytest.raises(PhaseOneErrors) as exc:
        apply_tunnel_myids(settings_for(tmp_path), items, apply=fake_apply(sent, errors={2: err}))
    assert sent == [([(1, NEW)], [2])]  # phase 1 2 asked once
    assert sorted(exc.value.failed) == ["a", "b"]
    assert f"phase 1 1 My identifier {OLD} -> {NEW}" in exc.value.done


def test_apply_tunnel_myids_a_tunnel_without_a_phase_1_fails_alone(tmp_path):
    sent: list = []
    with pytest.raises(PhaseOneErrors) as exc:
        apply_tunnel_myids(
            settings_for(tmp_path), [("x", None, NEW), ("hq", 1, NEW)], apply=fake_apply(sent)
        )
    assert list(exc.value.failed) == ["x"] and "pfsense.ikeid" in str(exc.value.failed["x"])
    assert sent == [([(1, NEW)], [])]


def test_apply_tunnel_myids_a_helper_failure_names_the_tunnel(tmp_path):
    def apply(items, refresh=()):
        err = LocalApplyError("apply-myid", "phase 1 7 My identifier: charon did not load it")
        return MyidBatch(
            (MyidOutcome(1, True, OLD, NEW), MyidOutcome(7, True, OLD, NEW, err)), False
        )

    xml = with_phase1(FIX27, 7)
    with pytest.raises(PhaseOneErrors) as exc:
        apply_tunnel_myids(settings_for(tmp_path, xml), [("a", 1, NEW), ("b", 7, NEW)], apply=apply)
    assert list(exc.value.failed) == ["b"] and "charon did not load" in str(exc.value)


# ---- the real helper (php-cli + the package's stand-ins) -------------------------------
@pytest.fixture
def real_helper(tmp_path, monkeypatch):
    """``apply`` = apply_myids running the package's apply-myid.php under php-cli against
    the config.xml file of ``settings`` (via the config stand-in) and the fake swanctl."""
    php = shutil.which("php")
    if php is None:
        pytest.skip("php-cli is not installed (make setup installs it)")
    dump = tmp_path / "dump.json"

    def prepare(settings: PfsenseSettings):
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps(to_php(ET.parse(settings.config_xml).getroot())))
        conf = tmp_path / "swanctl.conf"
        prepend = tmp_path / "prepend.php"
        prepend.write_text(
            f"<?php define('S2S_AGENT_SWANCTL', '{STUBS}/fake-swanctl');\n"
            f"define('S2S_AGENT_SWANCTL_CONF', '{conf}');\n"
            "define('S2S_AGENT_LOAD_TIMEOUT', 2);\n"
        )
        for k, v in {
            "S2S_TEST_CONFIG": cfg,
            "S2S_TEST_DUMP": dump,
            "S2S_TEST_LOADED": tmp_path / "loaded",
            "S2S_TEST_VARRUN": tmp_path,
        }.items():
            monkeypatch.setenv(k, str(v))

        def runner(argv, **kw):
            inc = ["-d", f"include_path={STUBS}", "-d", f"auto_prepend_file={prepend}"]
            return osio.run([argv[0], *inc, *argv[1:]], **kw)

        return partial(apply_myids, runner=runner, php=php, helper=str(HELPER))

    return prepare, dump


def test_apply_tunnel_myids_through_the_real_helper_one_write(tmp_path, real_helper):
    prepare, dump = real_helper
    st = settings_for(
        tmp_path, with_phase1(with_phase1(FIX27, 7), 8, extra="<disabled></disabled>")
    )
    with pytest.raises(PhaseOneErrors) as exc:
        apply_tunnel_myids(st, [("a", 1, NEW), ("b", 7, NEW), ("c", 8, NEW)], apply=prepare(st))
    assert list(exc.value.failed) == ["c"]
    state = json.loads(dump.read_text())
    assert [c[0] for c in state["calls"]] == [
        "write_config",
        "ipsec_configure",
        "ipsec_reload_package_hook",
    ]
    ids = {p["ikeid"]: p["myid_data"] for p in state["config"]["ipsec"]["phase1"]}
    assert (ids["1"], ids["7"], ids["8"]) == (NEW, NEW, OLD)


def test_apply_tunnel_myids_refresh_through_the_real_helper_no_write(
    tmp_path, real_helper, monkeypatch
):
    """Phase 1 2 ("My IP address" on wan) after its source moved: charon still has OLD as
    local address and id. One run of the real helper: no write_config, one ipsec_configure,
    charon has NEW when it returns; a second run finds it right and reloads nothing."""
    prepare, dump = real_helper
    monkeypatch.setenv("S2S_TEST_SRC", json.dumps({"wan": NEW}))  # ipsec_get_phase1_src
    (tmp_path / "loaded").write_text(f"con2 {OLD} {OLD}\n")
    st = settings_for(tmp_path)
    detail = apply_tunnel_myids(st, [("lyon", 2, NEW)], apply=prepare(st))
    assert f"phase 1 2: charon's local address {OLD} -> {NEW}" in detail
    state = json.loads(dump.read_text())
    assert [c[0] for c in state["calls"]] == [
        "log_error",
        "ipsec_configure",
        "ipsec_reload_package_hook",
    ]
    line = next(x for x in (tmp_path / "loaded").read_text().splitlines() if x.startswith("con2 "))
    assert line == f"con2 {NEW} {NEW}"
    detail = apply_tunnel_myids(st, [("lyon", 2, NEW)], apply=prepare(st))
    assert f"phase 1 2: charon already uses {NEW}" in detail
    assert json.loads(dump.read_text())["calls"] == []


# ---- the executor's pfSense branch -------------------------------------------------------
def multi_cfg(xml_path: Path, ikeids=(1, 7, 8)):
    prof = {
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "client_id": "11111111-2222-3333-4444-555555555555",
        "client_secret_file": "/s/x.secret",
    }

    def t(ikeid, lng):
        return {
            "ike": f"con{ikeid}",
            "wan": {"source": "interface", "interface": "wan0"},
            "pfsense": {"ikeid": ikeid},
            "azure": {
                "profile": "a",
                "subscription_id": "00000000-1111-2222-3333-444444444444",
                "resource_group": "rg",
                "local_network_gateway": lng,
                "connection": f"cn-{lng}",
            },
        }

    data = {
        "azure_profiles": {"a": prof},
        "tunnels": [t(i, "lng-b" if i == 8 else "lng-a") for i in ikeids],
        "pfsense": {"config_xml": str(xml_path)},
        "remediation": {"enabled": True, "local_backend": "pfsense"},
    }
    return config.parse(data, "c.yaml")


class Worker:
    def call(self, op, arg=None, *, deadline=0.0):
        return {"changed": True, "old_ip": OLD}


def test_executor_applies_every_phase_1_in_one_helper_run_and_a_bad_one_fails_its_tunnel(
    tmp_path, real_helper, monkeypatch
):
    """con8's phase 1 is disabled: only con8 fails (its record, its alert, its LNG's
    record); con1 and con7 (one run of the helper, one write_config) restart and verify."""
    prepare, dump = real_helper
    xml = with_phase1(with_phase1(FIX27, 7), 8, extra="<disabled></disabled>")
    st = settings_for(tmp_path, xml)
    runs: list = []
    apply = prepare(st)
    monkeypatch.setattr(
        pfsense,
        "apply_myids",
        lambda items, refresh=(): runs.append((items, list(refresh))) or apply(items, refresh),
    )
    c = multi_cfg(Path(st.config_xml))
    steps, alerts = [], []
    m = MultiRemediator(
        c,
        workers=lambda name: Worker(),
        actions={
            "restart_ike": lambda t, s: steps.append((t.ike, "restart")) or "restarted",
            "verify": lambda t, s: steps.append((t.ike, "verify")) or "answered",
        },
        notify=lambda sev, msg: alerts.append((sev, msg)),
    )
    for r in m.lngs.values():
        r.applied_ip = r.lng_ip = OLD
    health = {"con1": "DOWN", "con7": "DOWN", "con8": "DOWN"}
    recs = m.execute(m.decide(health, dict.fromkeys(health, NEW), "standalone"))
    assert runs == [([(1, NEW), (7, NEW)], [])]  # ONE run of the helper
    state = json.loads(dump.read_text())
    assert [c[0] for c in state["calls"]].count("write_config") == 1
    assert sorted(steps) == sorted(
        [(i, k) for i in ("con1", "con7") for k in ("restart", "verify")]
    )
    a, b = list(m.groups)
    assert recs[a].ok and recs[b].ok is False
    assert m.lngs[a].applied_ip == NEW and m.lngs[b].applied_ip == OLD  # b is retried
    steps_b = [(s.kind, s.ok) for s in recs[b].steps]
    assert steps_b == [("update_lng", True), ("apply_local_id", False)]  # no "ok" for con8
    (trec,) = m.tunnel_records["con8"]
    assert trec["ok"] is False and trec["steps"][0]["kind"] == "apply_local_id"
    assert "disabled" in trec["steps"][0]["detail"]
    assert [t["ok"] for n in ("con1", "con7") for t in m.tunnel_records[n]] == [True, True]
    assert any(s == "err" and "tunnel=con8" in msg for s, msg in alerts)
    assert not any(s == "err" and "tunnel=con1" in msg for s, msg in alerts)


# ---- the single-tunnel executor's pfSense branch (act/localapply.py) -------------------
def test_single_tunnel_my_ip_address_is_refreshed_and_errors_keep_their_type(tmp_path, monkeypatch):
    """One Azure tunnel (the single-tunnel loop) on a "My IP address" phase 1: the same
    --refresh as with several tunnels (it returned the plan's reason and ran nothing)."""
    from s2s_agent.act import localapply
    from s2s_agent.core.errors import ConfigError

    xml = with_phase1(FIX27, 8, extra="<disabled></disabled>")
    st = settings_for(tmp_path, xml)
    sent: list = []
    monkeypatch.setattr(pfsense, "apply_myids", fake_apply(sent))

    def single(ikeid):
        return multi_cfg(Path(st.config_xml), ikeids=(ikeid,))  # one tunnel: single loop

    c = single(2)
    t = c.tunnels[0]
    detail = localapply.apply_local_identity(c, t, OLD, NEW)
    assert sent == [([], [2])]
    assert "My IP address" in detail
    assert f"phase 1 2: charon's local address {OLD} -> {NEW}" in detail
    c = single(8)
    with pytest.raises(ConfigError, match="disabled"):
        localapply.apply_local_identity(c, t, OLD, NEW)
