"""Several Azure tunnels in the package GUI (issue 10, item 1 "in the GUI"): the resync's
YAML in the tunnels form (docs/multi-tunnel.md sections 2 and 3) from the Settings page's
"More Azure tunnels" rows and the Credential profiles, run with php-cli against the
stand-ins of pfSense's config API (tests/pkg/php_stubs). The YAML is checked with the agent's
own config loader. The pages' Save and render: test_gui_profiles.py."""

from __future__ import annotations

import json
import stat

import pytest

from .harness import GOOD, run_harness
from .multibox import (
    BOX,
    BRANCH_SECRET,
    MAIN,
    PEM,
    PHASES,
    PROFILES,
    SUB_B,
    VIP,
    box,
    load,
    run,
    tun,
)

pytest.importorskip("s2s_agent.config")


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
