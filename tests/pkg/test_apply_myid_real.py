"""apply-myid's --refresh resolution against pfSense's REAL interfaces.inc / gwlb.inc /
ipsec.inc (ipsec_get_phase1_src with the gateway status of return_gateways_status), in the
chroot of tests/pkg/test_resolve_src.py (pfsense_real/srcworld.py: two WAN gateways in the
failover group WAN_FAILOVER, dpinger's status sockets served for real). A "My IP address"
phase 1 on the group: WAN1 down -> charon must have WAN2's address as local address and
local id; charon already right -> no ipsec_configure (the real one would need FreeBSD, so
only the "already right" run goes through s2s_agent_apply_myids here; the reload itself is
checked by tests/pkg/pfsense_real/refresh.py and test_apply_myid.py).

Needs S2S_PFSENSE_SRC, root, php-cli with php-xml; see tests/pkg/pfsense_real/README.md."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "pfsense_real"))
import srcworld  # noqa: E402

WAN1, WAN2 = "198.51.100.2", "100.64.0.2"  # srcworld's igb0 / igb1 addresses


pytestmark = pytest.mark.skipif(srcworld.why_not() is not None, reason=srcworld.why_not() or "")


@pytest.fixture(scope="module", params=srcworld.SOURCES, ids=lambda p: Path(p).name)
def world(request, tmp_path_factory):
    if srcworld.php_cannot_load(request.param) is not None:
        pytest.skip(f"{Path(request.param).name}: this php-cli cannot load gwlb.inc (PHP 8.3)")
    w = srcworld.World(Path(request.param), tmp_path_factory.mktemp("srcroot") / "root")
    # a fake swanctl whose --list-conns shows con1 on the address in /var/run/loaded-src
    fake = w.root / "local/sbin/swanctl-refresh"
    fake.write_text(
        '#!/bin/sh\necho "$*" >> /var/log/swanctl-refresh.log\n'
        '[ "$1" = --list-conns ] || exit 0\nA=$(cat /var/run/loaded-src)\n'
        'printf "con1: IKEv2, no reauthentication, rekeying every 25920s\\n'
        "  local:  %s\\n  remote: 198.51.100.1\\n  local pre-shared key authentication:\\n"
        '    id: %s\\n" "$A" "$A"\n'
    )
    fake.chmod(0o755)
    yield w
    w.close()


PHP = """<?php
define('S2S_AGENT_SWANCTL', '/usr/local/sbin/swanctl-refresh');
define('S2S_AGENT_LOAD_TIMEOUT', 1);
require_once("config.inc"); require_once("util.inc"); require_once("interfaces.inc");
require_once("gwlb.inc"); require_once("ipsec.inc");
require_once("/usr/local/pkg/s2s-agent-myid.inc");
$n = null; foreach (config_get_path('ipsec/phase1') as $i => $p) { if ($p['ikeid'] == 1) { $n = $i; } }
config_set_path("ipsec/phase1/{$n}/myid_type", 'myaddress');   /* in memory only */
list($i, $p1) = s2s_agent_find_phase1(config_get_path('ipsec/phase1'), '1');
$want = s2s_agent_refresh_want($p1, '1', return_gateways_status(true));
$stale = !s2s_agent_loaded_has(s2s_agent_list_conns(), '1', $want);
/* stale: s2s_agent_apply_myids would run the real ipsec_configure (FreeBSD only) */
$all = $stale ? null : s2s_agent_apply_myids(array(), array('1'));
echo "\\n" . json_encode(array('want' => $want, 'stale' => $stale, 'all' => $all)) . "\\n";
"""


def refresh(world, loaded: str) -> dict:
    (world.root / "var/run/loaded-src").write_text(loaded)
    (world.root / "var/log/swanctl-refresh.log").unlink(missing_ok=True)
    (world.root / "tmp/refresh.php").write_text(PHP)  # a script: auto_prepend_file applies
    r = world.php("/tmp/refresh.php")
    lines = r.stdout.strip().splitlines()
    assert r.returncode == 0 and lines, r.stdout + r.stderr
    return json.loads(lines[-1])


def test_refresh_follows_pfsense_s_active_member_of_the_group(world):
    for d in world.dpinger.values():
        d.up()
    world.set_ifaddrs(srcworld.IFADDRS)
    out = refresh(world, WAN1)  # WAN1 up, charon on WAN1: right
    assert (out["want"], out["stale"]) == ({"addr": WAN1, "id": WAN1}, False)
    assert out["all"]["results"] == [
        {"ikeid": 1, "changed": False, "old": WAN1, "new": WAN1, "error": None}
    ]
    log = (world.root / "var/log/swanctl-refresh.log").read_text().splitlines()
    assert set(log) == {"--list-conns"}  # nothing loaded, no ipsec_configure
    world.dpinger["WAN1GW"].down()  # the failover, as pfSense's real gwlb.inc sees it
    try:
        out = refresh(world, WAN1)  # rc.ipsec still sleeping: charon on WAN1
        assert (out["want"], out["stale"]) == ({"addr": WAN2, "id": WAN2}, True)
        out = refresh(world, WAN2)  # charon already on WAN2
        assert (out["want"], out["stale"]) == ({"addr": WAN2, "id": WAN2}, False)
        assert out["all"]["results"][0]["changed"] is False
    finally:
        world.dpinger["WAN1GW"].up()
