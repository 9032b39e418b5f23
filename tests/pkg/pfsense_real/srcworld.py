"""A pfSense world for resolve-src.php against pfSense's REAL interfaces.inc / gwlb.inc /
ipsec.inc (tests/pkg/test_resolve_src.py, tests/bench): config.xml with two WAN gateways in
failover groups, a static interface, a CARP VIP; dpinger's status sockets served by real Unix
socket listeners (the format gwlb.inc:get_dpinger_status() reads: "NAME LAT_US STDDEV_US
LOSS"); interface addresses for the pfSense-extension stand-ins (srcstubs/prepend.php); CARP
states for the ifconfig(8) stand-in. The root itself is made by mkroot.sh."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[2]
GOLDEN = PROJECT / "tests/golden/pfsense/config-2.7.xml"
VIP = "_vip5f3c0a1b2c3d4"
IFADDRS = {
    "igb0": ["198.51.100.2/24", "198.51.100.50/24"],  # WAN1 (+ the CARP VIP's address)
    "igb1": ["100.64.0.2/24"],  # WAN2
    "igb2": ["192.0.2.10/24"],  # OPT2, static
    "igb3": ["192.168.1.1/24"],  # LAN
}
GATEWAYS = {
    "WAN1GW": ("wan", "198.51.100.1", "198.51.100.2"),
    "WAN2GW": ("opt1", "100.64.0.1", "100.64.0.2"),
}
# ikeid -> phase 1 <interface>; 5 is disabled
PHASE1 = {1: "WAN_FAILOVER", 2: "opt2", 3: VIP, 4: "WAN_HA", 5: "wan", 6: "wan"}

CONFIG_PARTS = f"""
<interfaces>
  <wan><enable/><if>igb0</if><ipaddr>dhcp</ipaddr><descr>WAN1</descr></wan>
  <lan><enable/><if>igb3</if><ipaddr>192.168.1.1</ipaddr><subnet>24</subnet></lan>
  <opt1><enable/><if>igb1</if><ipaddr>dhcp</ipaddr><descr>WAN2</descr></opt1>
  <opt2><enable/><if>igb2</if><ipaddr>192.0.2.10</ipaddr><subnet>24</subnet><descr>OPT2</descr></opt2>
</interfaces>
<gateways>
  <gateway_item><interface>wan</interface><gateway>198.51.100.1</gateway><name>WAN1GW</name>
    <weight>1</weight><ipprotocol>inet</ipprotocol><monitor>198.51.100.1</monitor><descr/></gateway_item>
  <gateway_item><interface>opt1</interface><gateway>100.64.0.1</gateway><name>WAN2GW</name>
    <weight>1</weight><ipprotocol>inet</ipprotocol><monitor>100.64.0.1</monitor><descr/></gateway_item>
  <gateway_group><name>WAN_FAILOVER</name><item>WAN1GW|1|address</item>
    <item>WAN2GW|2|address</item><trigger>down</trigger><descr/></gateway_group>
  <gateway_group><name>WAN_HA</name><item>WAN1GW|1|{VIP}</item>
    <item>WAN2GW|2|address</item><trigger>down</trigger><descr/></gateway_group>
</gateways>
<virtualip>
  <vip><mode>carp</mode><interface>wan</interface><vhid>7</vhid><advskew>0</advskew>
    <advbase>1</advbase><password>x</password><uniqid>5f3c0a1b2c3d4</uniqid>
    <descr>HA</descr><type>single</type><subnet_bits>24</subnet_bits>
    <subnet>198.51.100.50</subnet></vip>
</virtualip>
"""


SOURCES = [p for p in os.environ.get("S2S_PFSENSE_SRC", "").split(":") if p]


def why_not() -> str | None:
    """None, or why a World cannot be built here."""
    if not SOURCES:
        return "S2S_PFSENSE_SRC is not set (checkouts of github.com/pfsense/pfsense)"
    if os.geteuid() != 0:
        return "needs root (mount namespace and chroot)"
    for tool in ("php", "unshare", "chroot"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    return None


def php_cannot_load(src: str) -> str | None:
    """None, or why this php-cli cannot load the checkout's gwlb.inc (master: PHP 8.3)."""
    r = subprocess.run(
        ["php", "-l", str(Path(src) / "src/etc/inc/gwlb.inc")], capture_output=True, text=True
    )
    return None if r.returncode == 0 else (r.stdout + r.stderr).strip().splitlines()[0]


def config_xml() -> str:
    root = ET.parse(GOLDEN).getroot()
    for tag in ("interfaces", "gateways", "virtualip"):
        old = root.find(tag)
        if old is not None:
            root.remove(old)
    for el in ET.fromstring(f"<x>{CONFIG_PARTS}</x>"):
        root.append(el)
    ipsec = root.find("ipsec")
    template = ipsec.find("phase1")
    for p in ipsec.findall("phase1") + ipsec.findall("phase2"):
        ipsec.remove(p)
    for ikeid, ifname in PHASE1.items():
        p1 = ET.fromstring(ET.tostring(template))
        p1.find("ikeid").text = str(ikeid)
        p1.find("interface").text = ifname
        p1.find("descr").text = f"Azure {ikeid}"
        if ikeid == 5:
            ET.SubElement(p1, "disabled")
        ipsec.append(p1)
    return ET.tostring(root, encoding="unicode")


class Dpinger:
    """One dpinger status socket: answers every connection with its current line."""

    def __init__(self, root: Path, name: str):
        _iface, target, src = GATEWAYS[name]
        base = root / f"var/run/dpinger_{name}~{src}~{target}"
        self.name, self.line = name, f"{name} 12000 3000 0\n"
        self.pid, self.sock_path = base.with_suffix(".pid"), base.with_suffix(".sock")
        self.sock_path.unlink(missing_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.sock_path))
        self.sock.listen(16)
        self.pid.write_text("1\n")
        threading.Thread(target=self._serve, daemon=True).start()

    def up(self) -> None:
        self.line = f"{self.name} 12000 3000 0\n"  # 12 ms, no loss

    def down(self) -> None:
        self.line = f"{self.name} 0 0 100\n"  # 100 % loss > losshigh (20): "down"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(self.line.encode())

    def close(self) -> None:
        self.sock.close()
        self.sock_path.unlink(missing_ok=True)
        self.pid.unlink(missing_ok=True)


class AgentSocket:
    """The agent's control socket: records each request line, answers ok."""

    def __init__(self, path: Path):
        path.unlink(missing_ok=True)
        self.path, self.lines = path, []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(8)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.lines.append(json.loads(data.decode() or "null"))
                conn.sendall(b'{"version": 1, "ok": true, "data": {}}\n')

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.path.unlink(missing_ok=True)


class World:
    def __init__(self, src: Path, root: Path):
        self.root = root
        subprocess.run([str(HERE / "mkroot.sh"), str(src), str(PROJECT), str(root)], check=True)
        shutil.copytree(HERE / "srcstubs", root / "srcstubs")
        (root / "cf/conf/config.xml").write_text(config_xml())
        (root / "tmp/config.cache").unlink(missing_ok=True)
        self.set_ifaddrs(IFADDRS)
        self.set_carp("MASTER")
        self.dpinger = {n: Dpinger(root, n) for n in GATEWAYS}

    def set_ifaddrs(self, addrs: dict) -> None:
        (self.root / "var/run/harness-ifaddrs.json").write_text(json.dumps(addrs))

    def set_carp(self, state: str) -> None:
        (self.root / "var/run/harness-carp").write_text(f"igb0 {state} 7\n")

    def php(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        inc = ":".join(
            [
                "/srcstubs",
                "/etc/inc",
                "/usr/local/pfSense/include",
                "/usr/local/pfSense/include/www",
                "/usr/local/www",
                "/usr/local/pkg",
                "/harness-stubs",  # last: only what the checkout lacks (PEAR's Net/IPv6.php)
            ]
        )
        argv = [
            str(HERE / "srcroot.sh"),
            str(self.root),
            "/usr/bin/php",
            "-d",
            f"include_path={inc}",
        ]
        argv += ["-d", "auto_prepend_file=/srcstubs/prepend.php", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)

    def resolve(self, *ikeids: str) -> tuple[int, dict, str]:
        t0 = time.monotonic()
        r = self.php("/usr/local/libexec/s2s-agent/resolve-src.php", *ikeids)
        self.last_seconds = time.monotonic() - t0
        lines = r.stdout.strip().splitlines()
        return r.returncode, (json.loads(lines[-1]) if lines else {}), r.stdout + r.stderr

    def close(self) -> None:
        for d in self.dpinger.values():
            d.close()
