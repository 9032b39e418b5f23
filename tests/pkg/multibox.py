"""Shared data of the multi-tunnel GUI tests (tests/pkg/test_gui_multi.py,
test_gui_profiles.py): a box with several phase 1s (one on a gateway group, one on a CARP
VIP, an IKEv1 one), tunnel and profile rows as pkg_edit.php's rowhelper stores and posts them,
and the runner over tests/pkg/php_stubs/harness.php."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest
import yaml

from .harness import GOOD, PHASE1, run_harness

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
    from s2s_agent import config

    doc = tmp_path / "s2s-agent.yaml"
    return yaml.safe_load(doc.read_text()), config.load(str(doc)), doc.read_text()


def saved_profiles(out):
    return rows_of(out["config"]["installedpackages"]["s2sagentprofiles"]["config"][0])


def post_main(rows):
    return {**GOOD, "client_secret": DMYPWD, **flat(rows)}


def real_cli() -> Path:
    cli = Path(sys.executable).with_name("s2s-agent")
    if not cli.exists():
        pytest.skip(f"{cli} is missing (make venv installs it)")
    return cli
