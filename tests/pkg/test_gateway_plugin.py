"""The package's pfSense hooks through pfSense's REAL callers (RELENG_2_7_2; master's gwlb.inc
needs PHP 8.3 and is skipped on an older php-cli), in the chroot of tests/pkg/pfsense_real
(srcworld: WAN1/WAN2 gateways in the failover group WAN_FAILOVER, dpinger status sockets
served by this test).

- plugin_gateway: the package is registered the way pfSense's install_package_xml() does it
  (configurationfile from the package's info.xml, <plugins> and <include_file> from its XML);
  WAN1 is marked down; pfSense's own gateway-group evaluation
  (gwlb.inc:return_gateway_groups_array -> get_gwgroup_members_inner -> pfsense-utils.inc:
  pkg_call_plugins) calls s2s_agent_plugin_gateway, which sends the wake line to the agent's
  control socket (a listener here); the evaluation completes (no TypeError).
- A group edited since the last resync: the hook reruns the resync, the YAML's members follow.
- ipsec_reload_function through ipsec.inc:ipsec_reload_package_hook().

Needs S2S_PFSENSE_SRC (checkouts of github.com/pfsense/pfsense, ":"-separated), root, php-cli
with php-xml; see tests/pkg/pfsense_real/README.md."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from .conftest import FILES

sys.path.insert(0, str(Path(__file__).parent / "pfsense_real"))
import srcworld  # noqa: E402

INFO = FILES / "usr/local/share/pfSense-pkg-s2s-agent/info.xml"
pytestmark = pytest.mark.skipif(srcworld.why_not() is not None, reason=srcworld.why_not() or "")


@pytest.fixture(scope="module", params=srcworld.SOURCES, ids=lambda p: Path(p).name)
def world(request, tmp_path_factory):
    why = srcworld.php_cannot_load(request.param)
    if why:
        pytest.skip(f"{Path(request.param).name}: this php-cli cannot load gwlb.inc: {why}")
    w = srcworld.World(Path(request.param), tmp_path_factory.mktemp("srcroot") / "root")
    yield w
    w.close()


def package_entry() -> str:
    """<installedpackages><package> as pfSense's install_package_xml() writes it: info.xml's
    <package> plus the package XML's <include_file> and <plugins>."""
    info = ET.parse(INFO).getroot().find("package")
    conf = info.findtext("configurationfile")
    xml = ET.parse(FILES / "usr/local/pkg" / conf).getroot()
    entry = ET.Element("package")
    for tag in ("name", "internal_name", "configurationfile"):
        ET.SubElement(entry, tag).text = info.findtext(tag)
    ET.SubElement(entry, "include_file").text = xml.findtext("include_file")
    entry.append(xml.find("plugins"))
    return ET.tostring(entry, encoding="unicode")


SETTINGS = {
    "enable": "on",
    "ikeid": "1",  # phase 1 on the gateway group WAN_FAILOVER
    "tunnel_name": base64.b64encode(b"azure").decode(),
    "remediation": "on",
    "tenant_id": "11111111-2222-3333-4444-555555555555",
    "client_id": "66666666-7777-8888-9999-000000000000",
    "subscription_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "auth_method": "secret",
    "client_secret": "not-a-real-secret",
    "resource_group": "rg-net",
    "local_network_gateway": "lng-hq",
}


@pytest.fixture
def box(world):
    """Both gateways up; the package registered, its settings enabled (or not: ``settings``);
    the agent's control socket listener at /var/run/s2s-agent.sock; all restored afterwards."""
    for d in world.dpinger.values():
        d.up()
    world.set_ifaddrs(srcworld.IFADDRS)
    world.set_carp("MASTER")
    conf = world.root / "cf/conf/config.xml"
    good = conf.read_text()
    settings = "".join(f"<{k}>{v}</{k}>" for k, v in SETTINGS.items())
    text = good.replace("<installedpackages/>", "").replace(
        "</pfsense>",
        f"<installedpackages>{package_entry()}<s2sagent><config>{settings}</config></s2sagent>"
        "</installedpackages></pfsense>",
    )
    conf.write_text(text)
    (world.root / "tmp/config.cache").unlink(missing_ok=True)
    (world.root / "tmp/.down.WAN1GW").unlink(missing_ok=True)
    world.agent = srcworld.AgentSocket(world.root / "var/run/s2s-agent.sock")
    yield world
    world.agent.close()
    pidfile = (
        world.root / "var/run/s2s_agent.pid"
    )  # the harness's fake agent, if a resync started it
    if pidfile.exists():
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        pidfile.unlink()
    for f in ("var/db/s2s-agent/gateways.sha256", "var/run/s2s-agent.wake-unreachable"):
        (world.root / f).unlink(missing_ok=True)
    conf.write_text(good)
    (world.root / "tmp/config.cache").unlink(missing_ok=True)


# pfSense's own gateway-group evaluation (what filter.inc, rc.ipsec, the dashboard call),
# timed around the call; any Throwable is reported, not fatal.
EVALUATE = """<?php
require_once("config.inc"); require_once("gwlb.inc");
$out = array();
$t0 = microtime(true);
try {
    $groups = return_gateway_groups_array(true);
    $out['first'] = $groups['WAN_FAILOVER'][0]['gw'] ?? null;
} catch (Throwable $e) {
    $out['error'] = get_class($e) . ': ' . $e->getMessage();
}
$out['seconds'] = microtime(true) - $t0;
echo "\\n", json_encode($out), "\\n";
"""


def evaluate(world) -> tuple[dict, subprocess.CompletedProcess]:
    (world.root / "tmp/evaluate.php").write_text(EVALUATE)
    r = world.php("/tmp/evaluate.php")
    return json.loads(r.stdout.strip().splitlines()[-1]), r


def run_code(world, code: str) -> subprocess.CompletedProcess:
    (world.root / "tmp/hook-test.php").write_text(
        '<?php require_once("config.inc"); require_once("pfsense-utils.inc");'
        f' require_once("ipsec.inc"); {code}'
    )
    return world.php("/tmp/hook-test.php")


def test_the_configurationfile_gives_a_php_function_name():
    """pkg_call_plugins() calls "<configurationfile minus .xml>_plugin_gateway"."""
    conf = ET.parse(INFO).getroot().findtext("package/configurationfile")
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*\.xml", conf), conf
    assert conf[: -len(".xml")] + "_plugin_gateway" == "s2s_agent_plugin_gateway"


def test_wan1_down_reaches_the_agent_through_pfsenses_group_evaluation(box):
    out, r = evaluate(box)  # WAN1 up: no member change, no call
    assert out.get("first") == "WAN1GW" and "error" not in out, r.stdout + r.stderr
    assert box.agent.lines == []
    box.dpinger["WAN1GW"].down()
    out, r = evaluate(box)
    assert "error" not in out, out  # no TypeError inside pfSense's evaluation
    assert out["first"] == "WAN2GW", r.stdout + r.stderr
    assert box.agent.lines == [{"version": 1, "command": "wake", "reason": "gateway.down WAN1GW"}]
    out, r = evaluate(box)  # still down: pfSense notices nothing new
    assert len(box.agent.lines) == 1
    box.dpinger["WAN1GW"].up()
    out, r = evaluate(box)
    assert out["first"] == "WAN1GW" and "error" not in out, out
    assert [x["reason"] for x in box.agent.lines] == ["gateway.down WAN1GW", "gateway.up WAN1GW"]


def test_no_agent_socket_costs_no_error(box):
    box.agent.close()  # also removes the socket file
    box.dpinger["WAN1GW"].down()
    out, r = evaluate(box)
    assert out["first"] == "WAN2GW" and "error" not in out, out
    assert "s2s" not in r.stderr, r.stderr
    assert out["seconds"] < 0.5, out  # the wake's whole deadline; ENOENT returns at once
    assert (box.root / "var/run/s2s-agent.wake-unreachable").exists()  # logged once


def members(world) -> list[str]:
    yaml = (world.root / "local/etc/s2s-agent.yaml").read_text()
    return re.findall(r"gateway: \"(WAN\dGW)\"", yaml)


def test_group_edited_since_the_last_resync_reruns_it(box):
    r = run_code(box, 'require_once("/usr/local/pkg/s2s-agent.inc"); s2s_agent_resync();')
    assert r.returncode == 0, r.stdout + r.stderr
    assert members(box) == ["WAN1GW", "WAN2GW"]
    digest = (box.root / "var/db/s2s-agent/gateways.sha256").read_text()
    # System > Routing > Gateway Groups: WAN2 becomes tier 1 (pfSense does not call the package)
    conf = box.root / "cf/conf/config.xml"
    text = conf.read_text()
    edited = text.replace("<item>WAN1GW|1|address</item>", "<item>WAN1GW|2|address</item>")
    edited = edited.replace("<item>WAN2GW|2|address</item>", "<item>WAN2GW|1|address</item>", 1)
    assert edited != text
    conf.write_text(edited)
    (box.root / "tmp/config.cache").unlink(missing_ok=True)
    box.dpinger["WAN1GW"].down()
    out, r = evaluate(box)
    assert out["first"] == "WAN2GW" and "error" not in out, out
    assert members(box) == ["WAN2GW", "WAN1GW"], r.stdout + r.stderr
    assert (box.root / "var/db/s2s-agent/gateways.sha256").read_text() != digest
    print(f"group evaluation with the hook's resync: {out['seconds']:.3f} s")
    # nothing changed since: the next event only wakes
    before = (box.root / "local/etc/s2s-agent.yaml").stat().st_mtime_ns
    box.dpinger["WAN1GW"].up()
    out, r = evaluate(box)
    assert "error" not in out and len(box.agent.lines) == 2, out
    assert (box.root / "local/etc/s2s-agent.yaml").stat().st_mtime_ns == before
    print(f"group evaluation with the hook's wake only: {out['seconds']:.3f} s")


def test_real_ipsec_reload_package_hook_wakes_the_agent(box):
    (box.root / "tmp/hook-test.php").write_text("")
    xml = FILES / "usr/local/pkg/s2s_agent.xml"
    assert ET.parse(xml).getroot().findtext("ipsec_reload_function") == "s2s_agent_ipsec_reload"
    r = run_code(box, "ipsec_reload_package_hook(); echo 'done';")
    assert r.stdout.strip().endswith("done"), r.stdout + r.stderr
    assert box.agent.lines == [{"version": 1, "command": "wake", "reason": "ipsec.reload"}]
