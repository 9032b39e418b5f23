"""resolve-src.php against pfSense's REAL interfaces.inc / gwlb.inc / ipsec.inc /
pfsense-utils.inc (RELENG_2_7_2; master's gwlb.inc needs PHP 8.3 and is skipped on an
older php-cli), in the chroot of tests/pkg/pfsense_real (mkroot.sh). Stand-ins only below
pfSense's PHP: the pfSense extension's interface-address calls and PEAR libraries
(pfsense_real/srcstubs), ifconfig(8)'s carp line, and dpinger, whose status sockets are
real Unix socket listeners here (pfsense_real/srcworld.py).

Needs S2S_PFSENSE_SRC (checkouts of github.com/pfsense/pfsense, ":"-separated), root, php-cli
with php-xml; see tests/pkg/pfsense_real/README.md."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "pfsense_real"))
import srcworld  # noqa: E402

pytestmark = pytest.mark.skipif(srcworld.why_not() is not None, reason=srcworld.why_not() or "")


@pytest.fixture(scope="module", params=srcworld.SOURCES, ids=lambda p: Path(p).name)
def world(request, tmp_path_factory):
    why = srcworld.php_cannot_load(request.param)
    if why:
        pytest.skip(f"{Path(request.param).name}: this php-cli cannot load gwlb.inc: {why}")
    w = srcworld.World(Path(request.param), tmp_path_factory.mktemp("srcroot") / "root")
    yield w
    w.close()


@pytest.fixture
def fresh(world):
    """Both gateways up, CARP MASTER, the interfaces' addresses as in srcworld."""
    for d in world.dpinger.values():
        d.up()
    world.set_carp("MASTER")
    world.set_ifaddrs(srcworld.IFADDRS)
    return world


def by_ikeid(out: dict) -> dict:
    assert out["version"] == 1
    return {p["ikeid"]: p for p in out["phase1"]}


def test_group_with_wan1_up_uses_wan1_and_falls_over_and_back(fresh):
    code, out, raw = fresh.resolve("1")
    assert code == 0, raw
    assert out["phase1"] == [
        {
            "ikeid": 1,
            "interface": "WAN_FAILOVER",
            "kind": "gateway_group",
            "group": "WAN_FAILOVER",
            "realif": "igb0",
            "address": "198.51.100.2",
            "gateway": "WAN1GW",
            "tier": 1,
            "vip": None,
            "carp": None,
            "error": None,
        }
    ]
    fresh.dpinger["WAN1GW"].down()  # 100 % loss: pfSense omits WAN1 from the group
    code, out, raw = fresh.resolve("1", "4")
    p = by_ikeid(out)
    assert code == 0, raw
    assert (p[1]["gateway"], p[1]["tier"], p[1]["realif"], p[1]["address"]) == (
        "WAN2GW",
        2,
        "igb1",
        "100.64.0.2",
    )
    # the HA group's tier-2 member has no VIP: its interface address, no CARP status
    assert (p[4]["gateway"], p[4]["vip"], p[4]["carp"], p[4]["address"]) == (
        "WAN2GW",
        None,
        None,
        "100.64.0.2",
    )
    fresh.dpinger["WAN1GW"].up()  # failback
    code, out, _ = fresh.resolve("1")
    assert (out["phase1"][0]["gateway"], out["phase1"][0]["address"]) == ("WAN1GW", "198.51.100.2")


def test_every_member_down_is_pfsense_plan_b_tier_1(fresh):
    """gwlb.inc: no member up -> every member counts (Plan B) -> tier 1 again."""
    for d in fresh.dpinger.values():
        d.down()
    _, out, _ = fresh.resolve("1")
    assert (out["phase1"][0]["gateway"], out["phase1"][0]["address"]) == ("WAN1GW", "198.51.100.2")


def test_static_interface_vip_and_member_vip_with_carp(fresh):
    code, out, raw = fresh.resolve("2", "3", "4")
    p = by_ikeid(out)
    assert code == 0, raw
    assert (p[2]["kind"], p[2]["realif"], p[2]["address"], p[2]["group"]) == (
        "interface",
        "igb2",
        "192.0.2.10",
        None,
    )
    assert (p[3]["kind"], p[3]["vip"], p[3]["realif"], p[3]["address"], p[3]["carp"]) == (
        "vip",
        srcworld.VIP,
        "igb0",
        "198.51.100.50",
        "MASTER",
    )
    assert (p[4]["kind"], p[4]["gateway"], p[4]["vip"], p[4]["address"], p[4]["carp"]) == (
        "gateway_group",
        "WAN1GW",
        srcworld.VIP,
        "198.51.100.50",
        "MASTER",
    )
    fresh.set_carp("BACKUP")
    _, out, _ = fresh.resolve("3", "4")
    assert [x["carp"] for x in out["phase1"]] == ["BACKUP", "BACKUP"]


def test_dhcp_interface_uses_its_first_address_not_the_vip(fresh):
    """'wan' is DHCP: find_interface_ip() on igb0, whose CARP VIP address is skipped."""
    _, out, _ = fresh.resolve("6")
    assert (out["phase1"][0]["realif"], out["phase1"][0]["address"]) == ("igb0", "198.51.100.2")
    fresh.set_ifaddrs({**srcworld.IFADDRS, "igb0": []})  # the DHCP lease is gone
    _, out, _ = fresh.resolve("6")
    assert out["phase1"][0]["address"] is None and "igb0" in out["phase1"][0]["error"]


def test_no_ikeid_means_every_enabled_phase_1_and_an_unknown_one_is_an_error(fresh):
    _, out, _ = fresh.resolve()
    assert [p["ikeid"] for p in out["phase1"]] == [1, 2, 3, 4, 6]  # 5 is disabled
    _, out, _ = fresh.resolve("9", "2")
    assert out["phase1"][0]["error"] == "no IPsec phase 1 with ikeid 9 in config.xml"
    assert out["phase1"][0]["address"] is None and out["phase1"][1]["address"] == "192.0.2.10"


def test_usage_error_exit_2(fresh):
    code, out, _ = fresh.resolve("1", "x")
    assert code == 2 and "usage" in out["error"]


def test_read_only_config_xml_and_history_untouched(fresh):
    conf = fresh.root / "cf/conf"
    before = hashlib.sha256((conf / "config.xml").read_bytes()).hexdigest()
    backups = sorted(p.name for p in (conf / "backup").iterdir())
    fresh.dpinger["WAN1GW"].down()
    fresh.resolve()
    assert hashlib.sha256((conf / "config.xml").read_bytes()).hexdigest() == before
    assert sorted(p.name for p in (conf / "backup").iterdir()) == backups


def test_unreadable_config_is_exit_1_with_one_json_answer(fresh):
    """pfSense's config.inc die()s on a config.xml it cannot parse or restore."""
    conf = fresh.root / "cf/conf/config.xml"
    good = conf.read_text()
    try:
        conf.write_text("<pfsense><broken")
        (fresh.root / "tmp/config.cache").unlink(missing_ok=True)
        code, out, raw = fresh.resolve("1")
        assert code == 1, raw
        assert out["error"].startswith("pfSense's configuration (config.xml) could not be read")
        assert raw.count("\n") == 1  # one line, nothing else on stdout or stderr
    finally:
        conf.write_text(good)
        (fresh.root / "tmp/config.cache").unlink(missing_ok=True)
