"""Step of drive.py: apply-myid.php --refresh through pfSense's REAL config.inc /
config.lib.inc. A "My IP address" phase 1 on a gateway group whose active member changed
(a failover: no rc.newwanip; rc.ipsec regenerates IPsec only 12 + 3 s later): one
ipsec_configure, NO write_config (no new Config History entry, config.xml untouched), and
the fake charon has the new member's address as local_addrs and local id when it returns;
charon already right: nothing reloaded."""

from __future__ import annotations

import json
import re
import time

from harness import check, php, read, rpath, write
from multi import GATEWAYS

WAN1, WAN2 = "198.51.100.20", "100.64.0.2"  # WAN_FAILOVER's tier 1 / tier 2 member address
HELPER = "/usr/local/libexec/s2s-agent/apply-myid.php"


def _charon() -> tuple[dict, dict]:
    ids = json.loads(read("/var/run/fake-charon.json") or "{}")
    return ids, json.loads(read("/var/run/fake-charon-addrs.json") or "{}")


def _backups() -> list[str]:
    return sorted(p.name for p in rpath("/cf/conf/backup").glob("config-*.xml"))


def _refresh(*ikeids: str):
    r = php(HELPER, *[a for i in ikeids for a in ("--refresh", i)])
    lines = r.stdout.strip().splitlines()
    return r, (json.loads(lines[-1]) if lines else {})


def refresh_myaddress() -> None:
    text = read("/cf/conf/config.xml")
    if "<gateway_group>" not in text:
        text = re.sub(r"\s*<gateways>.*?</gateways>|\s*<gateways/>", "", text, flags=re.S)
        text = text.replace("</pfsense>", GATEWAYS + "\n</pfsense>")
    block = re.search(r"\t*<phase1>.*?</phase1>\n", text, flags=re.S).group(0)
    p1 = re.sub(r"<ikeid>\d+</ikeid>", "<ikeid>8</ikeid>", block, count=1)
    p1 = re.sub(r"<interface>[^<]*</interface>", "<interface>WAN_FAILOVER</interface>", p1)
    p1 = re.sub(r"<myid_type>[^<]*</myid_type>", "<myid_type>myaddress</myid_type>", p1)
    p1 = re.sub(r"\s*<myid_data>[^<]*</myid_data>|\s*<disabled>[^<]*</disabled>", "", p1)
    write("/cf/conf/config.xml", text.replace(block, block + p1, 1))
    rpath("/tmp/config.cache").unlink(missing_ok=True)
    write("/var/run/harness-src.json", json.dumps({"WAN_FAILOVER": WAN1}))
    php("-r", 'require_once("config.inc"); require_once("ipsec.inc"); ipsec_configure();')
    time.sleep(2.5)  # the fake strongswanrc reload (background) loads con8 on WAN1
    ids, addrs = _charon()
    check(
        "apply-myid --refresh: before the failover charon has con8 on WAN1",
        (ids.get("con8"), addrs.get("con8")) == (WAN1, WAN1),
        (ids, addrs),
    )

    # the failover: pfSense now resolves the group to WAN2 (ipsec_get_phase1_src)
    write("/var/run/harness-src.json", json.dumps({"WAN_FAILOVER": WAN2}))
    before, xml = _backups(), read("/cf/conf/config.xml")
    calls0 = len(read("/var/log/harness-calls.log").splitlines())
    r, out = _refresh("8")
    check(
        "apply-myid --refresh: exit 0, con8 WAN1 -> WAN2 changed",
        r.returncode == 0
        and out.get("results")
        == [{"ikeid": 8, "changed": True, "old": WAN1, "new": WAN2, "error": None}],
        r.stdout + r.stderr[-500:],
    )
    calls = read("/var/log/harness-calls.log").splitlines()[calls0:]
    check(
        "apply-myid --refresh: one ipsec_configure (+ the package hook), no write_config",
        calls == ["ipsec_configure", "ipsec_reload_package_hook"]
        and _backups() == before
        and read("/cf/conf/config.xml") == xml,
        f"{calls} {len(_backups()) - len(before)} new backups",
    )
    ids, addrs = _charon()
    check(
        "apply-myid --refresh: charon has WAN2 as con8's local_addrs and local id on return",
        (ids.get("con8"), addrs.get("con8")) == (WAN2, WAN2),
        (ids, addrs),
    )

    # already right: nothing is regenerated or loaded
    log0 = len(read("/var/log/fake-swanctl.log").splitlines())
    calls0 = len(read("/var/log/harness-calls.log").splitlines())
    r, out = _refresh("8")
    loads = read("/var/log/fake-swanctl.log").splitlines()[log0:]
    check(
        "apply-myid --refresh when charon is right: changed false, nothing reloaded",
        r.returncode == 0
        and [(x["changed"], x["new"]) for x in out.get("results", [])] == [(False, WAN2)]
        and read("/var/log/harness-calls.log").splitlines()[calls0:] == []
        and loads == ["--list-conns"],
        f"{r.stdout} {loads}",
    )
