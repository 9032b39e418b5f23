"""The tunnels form (azure_profiles, per-tunnel azure/wan/pfsense) and its validation rules
(docs/multi-tunnel.md section 3), and that the single form still reads the same."""

import os

import pytest
import yaml

from s2s_agent import config
from s2s_agent.config.azure import check_credential_file
from s2s_agent.core.errors import ConfigError

SUB_A = "00000000-1111-2222-3333-444444444444"
SUB_B = "00000000-1111-2222-3333-555555555555"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def profiles(secret_a="/s/azure-corp.secret", secret_b="/s/azure-branch.secret"):
    return {
        "corp": {
            "tenant_id": TENANT,
            "client_id": "11111111-2222-3333-4444-555555555555",
            "client_secret_file": secret_a,
        },
        "branch": {
            "tenant_id": TENANT,
            "client_id": "11111111-2222-3333-4444-666666666666",
            "client_secret_file": secret_b,
        },
    }


GROUP = {
    "source": "gateway_group",
    "group": "WAN_FAILOVER",
    "members": [
        {"gateway": "WAN2GW", "tier": 2, "interface": "igb1"},
        {"gateway": "WAN1GW", "tier": 1, "interface": "igb0"},
    ],
}


def tunnel(ike, lng, *, sub=SUB_A, rg="rg-a", profile="corp", wan=None, conn=None, ikeid=True):
    t = {
        "name": f"t-{ike}",
        "ike": ike,
        "wan": wan or GROUP,
        "azure": {
            "profile": profile,
            "subscription_id": sub,
            "resource_group": rg,
            "local_network_gateway": lng,
            "connection": conn or f"cn-{lng}",
        },
    }
    if ikeid:
        t["pfsense"] = {"ikeid": int(ike[3:])}
    return t


def multi(*tunnels, **extra):
    return {
        "azure_profiles": profiles(),
        "wan": {"hold_seconds": 5, "hold_count": 2},
        "tunnels": list(tunnels),
        "remediation": {"enabled": True},
        **extra,
    }


def three():
    return multi(
        tunnel("con1", "lng-office"),
        tunnel("con4", "LNG-Office"),  # active-active: same LNG (ARM names are case-insensitive)
        tunnel(
            "con2",
            "lng-office-b",
            sub=SUB_B,
            rg="rg-b",
            profile="branch",
            wan={"source": "interface", "interface": "igb0"},
        ),
    )


def test_tunnels_form_gives_each_tunnel_its_target_source_and_phase1():
    cfg = config.parse(three(), "c.yaml")
    t1, t4, t2 = cfg.tunnels
    assert cfg.azure_profiles == ("corp", "branch")
    assert t1.azure.profile == "corp" and t2.azure.profile == "branch"
    assert t2.azure.subscription_id == SUB_B and t2.azure.client_secret_file.endswith(
        "branch.secret"
    )
    assert t1.azure.lng_key == t4.azure.lng_key != t2.azure.lng_key
    assert t1.wan.source == "gateway_group" and t1.wan.group == "WAN_FAILOVER"
    assert [m.gateway for m in t1.wan.members] == ["WAN1GW", "WAN2GW"]  # sorted by tier
    assert (t1.ikeid, t4.ikeid, t2.ikeid) == (1, 4, 2)
    assert t2.wan.interface == "igb0"
    assert cfg.azure_tunnels() == (t1, t4, t2)
    # the single-tunnel view: the first Azure tunnel, its preferred member's interface
    assert cfg.remediation.tunnel == "t-con1" and cfg.azure is t1.azure
    assert (cfg.wan.source, cfg.wan.interface, cfg.wan.hold_seconds) == ("interface", "igb0", 5)
    assert cfg.pfsense.ikeid == 1


def test_single_form_reads_as_profile_default_and_the_remediated_tunnels_target():
    data = {
        "tunnels": [{"ike": "con1"}, {"ike": "con2"}],
        "azure": {
            **profiles()["corp"],
            "subscription_id": SUB_A,
            "resource_group": "rg",
            "local_network_gateway": "lng",
        },
        "wan": {"source": "interface", "interface": "igb0"},
        "pfsense": {"ikeid": 2},
        "remediation": {"enabled": True, "tunnel": "con2"},
    }
    cfg = config.parse(data, "c.yaml")
    one, two = cfg.tunnels
    assert one.azure is None and one.wan is None
    assert two.azure is cfg.azure and two.azure.profile == "default"
    assert two.azure.cred_where == "azure"
    assert (two.wan.source, two.wan.interface, two.ikeid) == ("interface", "igb0", 2)
    assert cfg.azure_tunnels() == (two,)


def test_tunnels_form_with_a_default_source_in_the_shared_wan():
    data = multi(tunnel("con1", "lng-a"), tunnel("con2", "lng-b"))
    for t in data["tunnels"]:
        del t["wan"]
    data["wan"] = {"source": "interface", "interface": "igb3"}
    cfg = config.parse(data, "c.yaml")
    assert [t.wan.interface for t in cfg.tunnels] == ["igb3", "igb3"]


def err(data):
    with pytest.raises(ConfigError) as exc:
        config.parse(data, "c.yaml")
    return exc.value


def test_both_forms_at_once_is_an_error():
    data = three()
    data["azure"] = {**profiles()["corp"], "subscription_id": SUB_A}
    e = err(data)
    assert e.key == "azure" and "azure_profiles" in str(e) and "c.yaml" in str(e)


def test_same_lng_with_different_wan_sources_names_both_tunnels_the_lng_and_the_fix():
    other = {"source": "interface", "interface": "igb1"}
    e = err(multi(tunnel("con1", "lng-office"), tunnel("con4", "LNG-OFFICE", wan=other)))
    msg = str(e)
    assert e.key == "tunnels[1].wan"
    for words in ("t-con1", "t-con4", "lng-office", "gateway_group WAN_FAILOVER", "interface igb1"):
        assert words in msg, msg
    assert "same wan source or separate LNGs" in msg


def test_same_lng_name_in_another_subscription_or_group_is_another_lng():
    other = {"source": "interface", "interface": "igb1"}
    config.parse(multi(tunnel("con1", "lng"), tunnel("con2", "lng", sub=SUB_B, wan=other)), "c")
    config.parse(multi(tunnel("con1", "lng"), tunnel("con2", "lng", rg="rg-x", wan=other)), "c")


@pytest.mark.parametrize(
    "second, key, words",
    [
        (tunnel("con4", "lng-office", profile="branch"), "tunnels[1].azure.profile", "profiles"),
        (tunnel("con2", "lng-other", conn="cn-lng-office"), "tunnels[1].azure.connection", "LNG"),
        (tunnel("con3", "lng-x", profile="nope"), "tunnels[1].azure.profile", "corp, branch"),
        ({**tunnel("con3", "lng-x"), "name": "t-con1"}, "tunnels[1].name", "duplicate"),
        ({**tunnel("con3", "lng-x"), "ike": "con1", "pfsense": None}, "tunnels[1].ike", "both"),
        ({**tunnel("con3", "lng-x"), "pfsense": {"ikeid": 7}}, "tunnels[1].pfsense.ikeid", "con7"),
        (
            tunnel("con3", "lng-x", wan={"source": "gateway_group", "group": "G", "members": []}),
            "tunnels[1].wan.members",
            "at least one",
        ),
        (
            tunnel("con3", "lng-x", wan={"source": "interface"}),
            "tunnels[1].wan.interface",
            "required",
        ),
        (tunnel("con3", "lng-x", wan={"source": "http"}), "wan.http_endpoints", "at least 2"),
        (
            tunnel("con3", "lng-x", wan={"source": "carrier-pigeon"}),
            "tunnels[1].wan.source",
            "one of",
        ),
    ],
)
def test_cross_tunnel_and_per_tunnel_rules(second, key, words):
    e = err(multi(tunnel("con1", "lng-office"), second))
    assert e.key == key and words in str(e), str(e)


def test_a_profile_needs_exactly_one_credential_file_and_names_its_key():
    data = three()
    data["azure_profiles"]["branch"]["client_certificate_file"] = "/s/cert.pem"
    e = err(data)
    assert e.key == "azure_profiles.branch.client_secret_file" and "exactly one" in str(e)


def test_top_level_pfsense_phase1_is_refused_in_the_tunnels_form():
    data = three()
    data["pfsense"] = {"ikeid": 1}
    assert err(data).key == "pfsense.ikeid"


def test_the_sample_yaml_of_the_doc_loads(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(three()))
    assert len(config.load(str(path)).azure_tunnels()) == 3


@pytest.mark.skipif(os.geteuid() != 0, reason="the credential file must be root's")
def test_credential_files_are_checked_per_profile(tmp_path):
    good, bad = tmp_path / "corp.secret", tmp_path / "branch.secret"
    good.write_text("s1\n")
    bad.write_text("s2\n")
    good.chmod(0o600)
    bad.chmod(0o644)
    data = three()
    data["azure_profiles"] = profiles(str(good), str(bad))
    with pytest.raises(ConfigError) as exc:
        check_credential_file(config.parse(data, "c.yaml"))
    msg = str(exc.value)
    assert "azure_profiles.branch.client_secret_file" in msg and str(bad) in msg
    assert "s2" not in msg.replace(str(bad), "")
    bad.chmod(0o600)
    check_credential_file(config.parse(data, "c.yaml"))


def test_gateway_group_resolver_key():
    cfg = config.parse(three(), "c.yaml")
    assert cfg.tunnels[0].wan.resolver == "auto"  # pfSense when the backend is, else kernel
    data = three()
    data["tunnels"][0]["wan"] = {**GROUP, "resolver": "kernel"}
    assert config.parse(data, "c.yaml").tunnels[0].wan.resolver == "kernel"
    data["tunnels"][0]["wan"] = {**GROUP, "resolver": "dpinger"}
    with pytest.raises(ConfigError, match=r"tunnels\[0\]\.wan\.resolver.*auto, pfsense, kernel"):
        config.parse(data, "c.yaml")
    data = three()
    data["tunnels"][0] = tunnel(
        "con1", "lng-office", wan={**GROUP, "resolver": "pfsense"}, ikeid=False
    )
    with pytest.raises(ConfigError, match=r"tunnels\[0\]\.wan\.resolver.*pfsense: \{ikeid: N\}"):
        config.parse(data, "c.yaml")
