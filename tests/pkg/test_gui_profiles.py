"""The multi-tunnel pages as pfSense's pkg_edit.php runs them (tests/pkg/php_stubs/harness.php
follows its rowhelper render and save loop; the real one runs in tests/pkg/pfsense_real/multi.py):
the Credential profiles page (secrets never rendered, DMYPWD keeps them, a removed profile's
file removed, a used profile kept) and the Settings page's "More Azure tunnels" checks, with
the agent's own validate-config message for one LNG claimed from two WAN sources."""

from __future__ import annotations

import base64
import stat

import pytest

from .harness import GOOD, run_harness
from .multibox import (
    BRANCH_SECRET,
    DMYPWD,
    MAIN,
    PEM,
    PROFILES,
    box,
    flat,
    load,
    post_main,
    prf,
    real_cli,
    rows_of,
    run,
    saved_profiles,
    tun,
)

pytest.importorskip("s2s_agent.config")


def test_profiles_page_never_renders_a_stored_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_TEST_XML", "s2s_agent_profiles.xml")
    out = run(tmp_path, "form_get", MAIN, PROFILES)
    res = out["result"]
    assert res["prf_name0"] == "branch" and res["prf_secret0"] == DMYPWD
    assert res["prf_cert1"] == DMYPWD and res["prf_secret1"] == ""
    assert BRANCH_SECRET not in str(res) and "MIIEkey" not in str(res)
    assert not [c for c in out["calls"] if c[0] == "write_config"]


def test_the_placeholder_keeps_a_stored_secret_and_a_new_one_replaces_it(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_TEST_XML", "s2s_agent_profiles.xml")
    post = flat([{**PROFILES[0], "prf_secret": DMYPWD}, {**PROFILES[1], "prf_cert": DMYPWD}])
    out = run(tmp_path, "form_post", MAIN, PROFILES, arg=post)
    assert out["result"]["input_errors"] == []
    kept = saved_profiles(out)
    assert kept[0]["prf_secret"] == BRANCH_SECRET
    assert base64.b64decode(kept[1]["prf_cert"]).decode() == PEM
    assert (tmp_path / "s2s-agent/azure-branch.secret").read_text() == BRANCH_SECRET
    post["prf_secret0"] = "n3w-s3cret"
    out = run(tmp_path, "form_post", MAIN, PROFILES, arg=post)
    assert saved_profiles(out)[0]["prf_secret"] == "n3w-s3cret"
    assert (tmp_path / "s2s-agent/azure-branch.secret").read_text() == "n3w-s3cret"


def test_removing_a_profile_removes_its_file(tmp_path, monkeypatch):
    three = [*PROFILES, prf("spare", secret="sp4re")]
    run(tmp_path, "resync", MAIN, three)
    spare = tmp_path / "s2s-agent/azure-spare.secret"
    assert spare.read_text() == "sp4re"
    monkeypatch.setenv("S2S_TEST_XML", "s2s_agent_profiles.xml")
    post = flat([{**p, "prf_secret": DMYPWD if p["prf_secret"] else ""} for p in PROFILES])
    post["prf_cert1"] = DMYPWD
    out = run(tmp_path, "form_post", MAIN, three, arg=post)
    assert out["result"]["input_errors"] == []
    assert [p["prf_name"] for p in saved_profiles(out)] == ["branch", "certy"]
    assert not spare.exists() and (tmp_path / "s2s-agent/azure-branch.secret").exists()


def test_a_profile_a_tunnel_uses_cannot_be_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_TEST_XML", "s2s_agent_profiles.xml")
    post = flat([{**PROFILES[1], "prf_cert": DMYPWD}])
    out = run(tmp_path, "form_post", MAIN, PROFILES, arg=post)
    errors = out["result"]["input_errors"]
    assert any(e.startswith("Credential profile branch: tunnel con2") for e in errors), errors
    assert BRANCH_SECRET not in str(out["result"])
    assert not [c for c in out["calls"] if c[0] == "write_config"]


@pytest.mark.parametrize(
    ("row", "want"),
    [
        ({"prf_name": "default"}, 'Name: "default" is the Azure section'),
        ({"prf_name": "bad/name"}, "Name: 1-64 letters"),
        ({"prf_tenant": "nope"}, "Tenant ID must be a GUID"),
        ({"prf_secret": ""}, "give a client secret or a certificate"),
        ({"prf_cert": "-----BEGIN CERTIFICATE-----\nx\n"}, "not both"),
    ],
)
def test_profile_rows_are_checked(tmp_path, monkeypatch, row, want):
    monkeypatch.setenv("S2S_TEST_XML", "s2s_agent_profiles.xml")
    post = flat([{**prf("new", secret="s3"), **row}])
    out = run(tmp_path, "form_post", GOOD, [], arg=post)
    assert any(want in e for e in out["result"]["input_errors"]), out["result"]["input_errors"]


def test_settings_save_stores_the_rows_and_drops_empty_ones(tmp_path):
    rows = [tun("2", "lng-b", profile="branch"), tun("5", "", sub="", rg="")]
    rows[0]["tun_lng"] = " lng-b "
    out = run(tmp_path, "form_post", GOOD, PROFILES, arg=post_main(rows))
    assert out["result"]["input_errors"] == []
    kept = rows_of(out["config"]["installedpackages"]["s2sagent"]["config"][0])
    assert kept == [tun("2", "lng-b", profile="branch")]
    _, cfg, _ = load(tmp_path)
    assert [t.ike for t in cfg.azure_tunnels()] == ["con1", "con2"]


@pytest.mark.parametrize(
    ("row", "want"),
    [
        (tun("1", "lng-x"), "phase 1 1 is already watched by Tunnel to watch"),
        (tun("4", "lng-x"), "phase 1 4 is disabled"),
        (tun("9", "lng-x"), "choose an existing IPsec phase 1"),
        (tun("2", "lng-x", profile="nobody"), 'credential profile "nobody" does not exist'),
        (tun("2", "lng-x", sub="nope"), "Subscription ID must be a GUID"),
        (tun("2", "bad lng"), "Local network gateway:"),
        (tun("2", "lng-x", name="azure-hq"), 'the name "azure-hq" is already used'),
    ],
)
def test_settings_rows_are_checked(tmp_path, row, want):
    out = run(tmp_path, "form_post", GOOD, PROFILES, arg=post_main([row]))
    errors = out["result"]["input_errors"]
    assert any(e.startswith("More Azure tunnels, row 1: ") and want in e for e in errors), errors
    assert not (tmp_path / "s2s-agent.yaml").exists()


def test_two_rows_on_one_phase_1_are_refused(tmp_path):
    rows = [tun("2", "lng-b"), tun("2", "lng-c")]
    errors = run(tmp_path, "form_post", GOOD, PROFILES, arg=post_main(rows))["result"][
        "input_errors"
    ]
    assert any(
        "row 2: phase 1 2 is already watched by More Azure tunnels, row 1" in e for e in errors
    )


def test_the_phase_1_choices_are_the_enabled_ones(tmp_path):
    out = run_harness(tmp_path, "phase1", GOOD, extra=box(GOOD))
    assert [o["ikeid"] for o in out["result"]] == ["1", "2", "3", "4", "5", "6"]
    code_out = run_harness(
        tmp_path, "eval", GOOD, arg="s2s_agent_enabled_phase1_options()", extra=box(GOOD)
    )
    assert [o["ikeid"] for o in code_out["result"]] == ["1", "2", "3", "5", "6"]


def test_save_shows_the_agents_message_for_one_lng_with_two_wan_sources(tmp_path, monkeypatch):
    """issue 10 item 1: validation catches two tunnels that claim the same LNG with different
    WAN sources; Save runs the agent's validate-config and shows its message."""
    monkeypatch.setenv("S2S_TEST_CLI", str(real_cli()))
    same = tun("2", GOOD["local_network_gateway"], sub=GOOD["subscription_id"])
    same["tun_rg"] = GOOD["resource_group"]
    out = run(tmp_path, "form_post", GOOD, PROFILES, arg=post_main([same]))
    errors = out["result"]["input_errors"]
    assert len(errors) == 1, errors
    assert errors[0].startswith("Settings: the agent refuses the configuration")
    assert "both update LNG lng-hq but use different WAN sources" in errors[0]
    assert "(interface igb0 vs gateway_group WAN_FAILOVER)" in errors[0]
    assert not (tmp_path / "s2s-agent.yaml").exists()
    # the same tunnels on separate LNGs are accepted by the real agent
    out = run(tmp_path, "form_post", GOOD, PROFILES, arg=post_main([tun("2", "lng-b")]))
    assert out["result"]["input_errors"] == []
    assert (tmp_path / "s2s-agent.yaml").exists()


def test_profiles_save_is_checked_by_the_real_agent(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_TEST_CLI", str(real_cli()))
    monkeypatch.setenv("S2S_TEST_XML", "s2s_agent_profiles.xml")
    post = flat([{**PROFILES[0], "prf_secret": DMYPWD}, prf("usgov", secret="x")])
    post["prf_cloud1"] = "AzureUSGovernment"
    out = run(tmp_path, "form_post", MAIN, PROFILES[:1], arg=post)
    assert out["result"]["input_errors"] == []
    raw, cfg, _ = load(tmp_path)
    assert raw["azure_profiles"]["usgov"]["cloud"] == "AzureUSGovernment"
    assert len(cfg.azure_tunnels()) == 3


def test_rows_whose_phase_1_is_gone_still_save_while_disabled(tmp_path):
    """Found by the real pkg_edit.php run: without any phase 1 the row's select posts nothing;
    a disabled configuration must still save (as "Tunnel to watch" does)."""
    rows = [tun("2", "lng-b"), tun("5", "lng-c")]
    post = {**post_main(rows), "enable": "", "tun_ikeid0": None, "tun_ikeid1": None}
    out = run(tmp_path, "form_post", GOOD, PROFILES, arg=post)
    assert out["result"]["input_errors"] == []
    post["enable"] = "on"
    errors = run(tmp_path, "form_post", GOOD, PROFILES, arg=post)["result"]["input_errors"]
    assert sum("choose an existing IPsec phase 1" in e for e in errors) == 2, errors


def test_a_new_certificate_profile_is_stored_base64_and_written_0600(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_TEST_XML", "s2s_agent_profiles.xml")
    post = flat([{**PROFILES[0], "prf_secret": DMYPWD}, prf("certy", cert="x")])
    post["prf_cert1"] = PEM.replace("\n", "\r\n")  # as a browser posts a textarea
    out = run(tmp_path, "form_post", MAIN, PROFILES[:1], arg=post)
    assert out["result"]["input_errors"] == []
    row = saved_profiles(out)[1]
    assert row["prf_secret"] == "" and base64.b64decode(row["prf_cert"]).decode() == PEM
    pem = tmp_path / "s2s-agent/azure-certy-cert.pem"
    assert pem.read_text() == PEM and stat.S_IMODE(pem.stat().st_mode) == 0o600
    assert not (tmp_path / "s2s-agent/azure-certy.secret").exists()
    _, cfg, _ = load(tmp_path)
    assert cfg.azure_tunnels()[1].azure.profile == "branch"
