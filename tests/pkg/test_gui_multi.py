"""Several Azure tunnels in the package GUI (issue 10, item 1 "in the GUI"): the Settings
page's "More Azure tunnels" rowhelper, the Credential profiles page, and the resync's YAML in
the tunnels form (docs/multi-tunnel.md sections 2 and 3), run with php-cli against the
stand-ins of pfSense's config API (tests/pkg/php_stubs; harness.php follows pkg_edit.php's
rowhelper save and render). The YAML is checked with the agent's own config loader."""

from __future__ import annotations

import base64
import json
import stat
import sys
from pathlib import Path

import pytest
import yaml

from .harness import GOOD, PHASE1, run_harness

config = pytest.importorskip("s2s_agent.config")

DMYPWD = "********"
SUB_B = "bbbbbbbb-1111-2222-3333-444444444444"
BRANCH_SECRET = "br4nch-s3cret~value"
PEM = (
    "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n"
    "-----BEGIN PRIVATE KEY-----\nMIIEkeyDONOTLEAK\n-----END PRIVATE KEY-----"
)
VIP = "5f3a1b2c4d5e6"
PHASES = [
    PHASE1[0],  # ikeid 1 on wan
    {"ikeid": "2", "descr": "VNet B", "interface": "WAN_FAILOVER", "iketype": "ikev2"},
    {"ikeid": "3", "descr": "on CARP", "interface": f"_vip{VIP}"},
    {"ikeid": "4", "descr": "old", "disabled": ""},
    {"ikeid": "5", "descr": "HQ active-active", "interface": "wan"},
    {"ikeid": "6", "descr": "IKEv1", "interface": "opt1", "iketype": "ikev1"},
]
PHASE2 = [
    {"ikeid": "6", "reqid": "3"},
    {"ikeid": "6", "reqid": "4"},
    {"ikeid": "6", "reqid": "5", "disabled": ""},
]
BOX = {
    "interfaces": {"wan": {"if": "igb0"}, "opt1": {"if": "igb1"}, "lan": {"if": "igb2"}},
    "gateways": {
        "gateway_item": [
            {"name": "WAN2GW", "interface": "opt1", "gateway": "100.64.0.1"},
            {"name": "WAN1GW", "interface": "wan", "gateway": "198.51.100.1"},
        ],
        "gateway_group": [
            {
                "name": "WAN_FAILOVER",
                "trigger": "down",
                "item": ["WAN2GW|2|", f"WAN1GW|1|_vip{VIP}"],
            }
        ],
    },
    "virtualip": {"vip": [{"mode": "carp", "interface": "wan", "vhid": "7", "uniqid": VIP}]},
}


def tun(ikeid, lng, *, profile="default", sub=SUB_B, rg="rg-b", conn="", name="", wan="phase1"):
    return {
        "tun_ikeid": ikeid,
        "tun_name": name,
        "tun_lng": lng,
        "tun_conn": conn,
        "tun_sub": sub,
        "tun_rg": rg,
        "tun_profile": profile,
        "tun_wan": wan,
    }


def prf(name, *, secret="", cert="", tenant="11111111-2222-3333-4444-000000000001"):
    return {
        "prf_name": name,
        "prf_cloud": "AzureCloud",
        "prf_tenant": tenant,
        "prf_client": "11111111-2222-3333-4444-000000000002",
        "prf_secret": secret,
        "prf_cert": base64.b64encode(cert.encode()).decode() if cert else "",
    }


def flat(rows: list[dict]) -> dict:
    """Rows as pkg_edit.php's rowhelper posts them: NAME<index>."""
    return {f"{k}{i}": v for i, r in enumerate(rows) for k, v in r.items()}


def box(settings: dict, profiles: list[dict] | None = None) -> dict:
    pkgs = {"s2sagent": {"config": [settings]}}
    if profiles is not None:
        pkgs["s2sagentprofiles"] = {"config": [{"row": profiles}]}
    return {**BOX, "ipsec": {"phase1": PHASES, "phase2": PHASE2}, "installedpackages": pkgs}


def run(tmp_path, mode, settings, profiles=None, arg=None):
    return run_harness(tmp_path, mode, settings, arg=arg, extra=box(settings, profiles))


def rows_of(saved: dict) -> list[dict]:
    rows = saved.get("row", [])
    return list(rows.values()) if isinstance(rows, dict) else rows


MAIN = {**GOOD, "row": [tun("2", "lng-b", profile="branch"), tun("5", "lng-hq", name="hq-aa")]}
MAIN["row"][1].update(tun_sub=GOOD["subscription_id"], tun_rg=GOOD["resource_group"])
PROFILES = [prf("branch", secret=BRANCH_SECRET), prf("certy", cert=PEM)]


def load(tmp_path: Path):
    doc = tmp_path / "s2s-agent.yaml"
    return yaml.safe_load(doc.read_text()), config.load(str(doc)), doc.read_text()


def test_several_tunnels_and_profiles_give_the_tunnels_form_the_agent_accepts(tmp_path):
    run(tmp_path, "resync", MAIN, PROFILES)
    raw, cfg, text = load(tmp_path)
    assert "azure" not in raw and set(raw["azure_profiles"]) == {"default", "branch", "certy"}
    assert [t.ike for t in cfg.azure_tunnels()] == ["con1", "con2", "con5"]
    first, b, aa = cfg.azure_tunnels()
    assert (first.name, first.ikeid, first.azure.profile) == ("azure-hq", 1, "default")
    assert first.probe is not None and first.wan.identity == ("interface", "igb0")
    assert (b.name, b.azure.profile, b.azure.subscription_id) == ("con2", "branch", SUB_B)
    assert (aa.name, aa.azure.local_network_gateway, aa.wan.identity) == (
        "hq-aa",
        "lng-hq",
        ("interface", "igb0"),
    )
    assert first.azure.lng_key == aa.azure.lng_key  # active-active: one LNG, one source
    d = tmp_path / "s2s-agent"
    assert raw["azure_profiles"]["default"]["client_secret_file"] == f"{d}/azure-secret"
    assert raw["azure_profiles"]["branch"]["client_secret_file"] == f"{d}/azure-branch.secret"
    assert raw["azure_profiles"]["certy"]["client_certificate_file"] == f"{d}/azure-certy-cert.pem"
    assert raw["pfsense"] == {"config_xml": "/cf/conf/config.xml"}
    for f, want in (("azure-branch.secret", BRANCH_SECRET), ("azure-certy-cert.pem", PEM)):
        assert (d / f).read_text() == want
        assert stat.S_IMODE((d / f).stat().st_mode) == 0o600
    for secret in (BRANCH_SECRET, GOOD["client_secret"], "MIIEkey"):
        assert secret not in text


def test_a_gateway_group_phase_1_gives_its_members_in_tier_order(tmp_path):
    run(tmp_path, "resync", {**GOOD, "ikeid": "2"})  # one tunnel: still the tunnels form
    raw, cfg, _ = load(tmp_path)
    (t,) = cfg.azure_tunnels()
    assert raw["tunnels"][0]["wan"] == {
        "source": "gateway_group",
        "group": "WAN_FAILOVER",
        "members": [
            {"gateway": "WAN1GW", "tier": 1, "interface": "igb0", "friendly": "wan", "vip": VIP},
            {"gateway": "WAN2GW", "tier": 2, "interface": "igb1", "friendly": "opt1", "vip": None},
        ],
    }
    assert t.wan.identity == ("gateway_group", "WAN_FAILOVER") and t.ikeid == 2
    # the tier-1 member's CARP VIP: act only where it is MASTER
    assert (cfg.remediation.carp_interface, cfg.remediation.carp_vhid) == ("igb0", 7)


def test_a_vip_phase_1_uses_its_parents_interface_and_carp(tmp_path):
    settings = {**GOOD, "row": [tun("3", "lng-c", conn="cn-c")]}
    run(tmp_path, "resync", settings)
    raw, cfg, _ = load(tmp_path)
    assert raw["tunnels"][1]["wan"] == {"source": "interface", "interface": "igb0"}
    assert (cfg.remediation.carp_interface, cfg.remediation.carp_vhid) == ("igb0", 7)


def test_ikev1_children_follow_pfsenses_names(tmp_path):
    run(tmp_path, "resync", {**GOOD, "row": [tun("6", "lng-d")]})
    _, cfg, _ = load(tmp_path)
    assert cfg.tunnels[1].children == ("con6_3", "con6_4")  # the disabled phase 2 is left out
    assert cfg.tunnels[1].wan.identity == ("interface", "igb1")


def test_an_old_single_tunnel_config_still_gives_the_single_form(tmp_path):
    """Settings saved by the previous version (no rows, no profiles page) keep working."""
    run(tmp_path, "resync", GOOD)
    raw, cfg, _ = load(tmp_path)
    assert "azure_profiles" not in raw and raw["azure"]["local_network_gateway"] == "lng-hq"
    assert raw["pfsense"]["ikeid"] == 1 and raw["wan"]["interface"] == "igb0"
    (t,) = cfg.azure_tunnels()
    assert t.ike == "con1" and t.azure.profile == "default"


def test_with_azure_updates_off_the_rows_are_watched_only(tmp_path):
    run(tmp_path, "resync", {**MAIN, "remediation": ""}, PROFILES)
    raw, cfg, _ = load(tmp_path)
    assert [t.ike for t in cfg.tunnels] == ["con1", "con2", "con5"] and not cfg.azure_tunnels()
    assert "azure_profiles" not in raw
    assert not list((tmp_path / "s2s-agent").glob("azure-*"))


def test_profiles_page_never_renders_a_stored_secret(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_TEST_XML", "s2s-agent-profiles.xml")
    out = run(tmp_path, "form_get", MAIN, PROFILES)
    res = out["result"]
    assert res["prf_name0"] == "branch" and res["prf_secret0"] == DMYPWD
    assert res["prf_cert1"] == DMYPWD and res["prf_secret1"] == ""
    assert BRANCH_SECRET not in str(res) and "MIIEkey" not in str(res)
    assert not [c for c in out["calls"] if c[0] == "write_config"]


def saved_profiles(out):
    return rows_of(out["config"]["installedpackages"]["s2sagentprofiles"]["config"][0])


def test_the_placeholder_keeps_a_stored_secret_and_a_new_one_replaces_it(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_TEST_XML", "s2s-agent-profiles.xml")
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
    monkeypatch.setenv("S2S_TEST_XML", "s2s-agent-profiles.xml")
    post = flat([{**p, "prf_secret": DMYPWD if p["prf_secret"] else ""} for p in PROFILES])
    post["prf_cert1"] = DMYPWD
    out = run(tmp_path, "form_post", MAIN, three, arg=post)
    assert out["result"]["input_errors"] == []
    assert [p["prf_name"] for p in saved_profiles(out)] == ["branch", "certy"]
    assert not spare.exists() and (tmp_path / "s2s-agent/azure-branch.secret").exists()


def test_a_profile_a_tunnel_uses_cannot_be_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_TEST_XML", "s2s-agent-profiles.xml")
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
    monkeypatch.setenv("S2S_TEST_XML", "s2s-agent-profiles.xml")
    post = flat([{**prf("new", secret="s3"), **row}])
    out = run(tmp_path, "form_post", GOOD, [], arg=post)
    assert any(want in e for e in out["result"]["input_errors"]), out["result"]["input_errors"]


def post_main(rows):
    return {**GOOD, "client_secret": DMYPWD, **flat(rows)}


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


def real_cli() -> Path:
    cli = Path(sys.executable).with_name("s2s-agent")
    if not cli.exists():
        pytest.skip(f"{cli} is missing (make venv installs it)")
    return cli


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
    monkeypatch.setenv("S2S_TEST_XML", "s2s-agent-profiles.xml")
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


def test_a_dynamic_gateway_comes_from_pfsenses_gateway_list(tmp_path, monkeypatch):
    """A DHCP WAN's gateway (WAN_DHCP) is not in <gateway_item>: pfSense derives it
    (gwlb.inc:return_gateways_array), and the members come from that list."""
    gws = {
        "WAN_DHCP": {"name": "WAN_DHCP", "interface": "igb0", "friendlyiface": "wan"},
        "WAN2GW": {"name": "WAN2GW", "interface": "igb1", "friendlyiface": "opt1"},
    }
    monkeypatch.setenv("S2S_TEST_GATEWAYS", json.dumps(gws))
    group = {"name": "DHCP_FIRST", "item": ["WAN_DHCP|1|", "WAN2GW|2|"]}
    settings = {**GOOD, "ikeid": "7"}
    extra = box(settings)
    extra["gateways"] = {**BOX["gateways"], "gateway_group": [group]}
    extra["ipsec"]["phase1"] = [*PHASES, {"ikeid": "7", "interface": "DHCP_FIRST"}]
    out = run_harness(tmp_path, "resync", settings, extra=extra)
    assert ["return_gateways_array", True, False, True] in out["calls"]
    raw, cfg, _ = load(tmp_path)
    members = raw["tunnels"][0]["wan"]["members"]
    assert [(m["gateway"], m["interface"], m["friendly"]) for m in members] == [
        ("WAN_DHCP", "igb0", "wan"),
        ("WAN2GW", "igb1", "opt1"),
    ]
    assert cfg.tunnels[0].wan.identity == ("gateway_group", "DHCP_FIRST")


def test_a_new_certificate_profile_is_stored_base64_and_written_0600(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_TEST_XML", "s2s-agent-profiles.xml")
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
