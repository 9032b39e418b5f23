"""Namespace plumbing of the lab: ``ip`` commands, the anchor script, process helpers.

Pure builders (``network_commands``, ``anchor_script``) plus the few process helpers
``Lab.down()`` needs to stop daemons by pid, also those of a crashed earlier run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2s_agent.core.osio import run

from . import config, topology

log = logging.getLogger(__name__)

DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty", "ptmx")
DEV_DIRS = ("net", "pts", "shm")
SWANCTL_SUBDIRS = (
    "conf.d",
    "x509",
    "x509ca",
    "x509aa",
    "x509ocsp",
    "x509crl",
    "x509ac",
    "pubkey",
    "private",
    "rsa",
    "ecdsa",
    "bliss",
    "pkcs8",
    "pkcs12",
)


class LabError(RuntimeError):
    """The lab could not be built or driven (the message says which step failed)."""


@dataclass(frozen=True)
class PingResult:
    sent: int
    received: int

    @property
    def loss(self) -> float:
        return 1.0 if self.sent == 0 else 1.0 - self.received / self.sent

    def __bool__(self) -> bool:
        return self.received > 0


def wait_for(
    predicate: Callable[[], Any],
    timeout: float,
    *,
    interval: float = 0.1,
    what: str = "condition",
) -> Any:
    """Poll ``predicate`` until it returns something truthy; LabError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(interval)


def network_commands(op: str, az: str, wan_ip: str, *, multiwan: bool = False) -> list[list[str]]:
    """``ip`` commands building the veth "internet", the LAN and the VNet bridges.

    ``multiwan``: a second veth ``wan2`` (onprem WAN2 <-> azure) and the active-active
    gateway's second address; the path to the Azure gateways stays on ``wan0`` (WAN1)."""
    ipo, ipa = ["ip", "-n", op], ["ip", "-n", az]
    cmds = [
        ["ip", "netns", "add", op],
        ["ip", "netns", "add", az],
        [*ipo, "link", "set", "lo", "up"],
        [*ipa, "link", "set", "lo", "up"],
        # created inside the namespaces: nothing ever appears in the host namespace
        [*ipo, "link", "add", "wan0", "type", "veth", "peer", "name", "wan0", "netns", az],
        [*ipo, "addr", "add", f"{wan_ip}/24", "dev", "wan0"],
        *([*ipa, "addr", "add", f"{gw}/24", "dev", "wan0"] for gw in config.AZURE_GWS),
        [*ipo, "link", "set", "wan0", "up"],
        [*ipa, "link", "set", "wan0", "up"],
        # only on-link TEST-NET routes: NO default route (plaintext would leak, LAB-FACTS)
        [*ipo, "route", "add", "203.0.113.0/24", "dev", "wan0"],
        [*ipo, "route", "add", config.MOVE_NET, "dev", "wan0"],
        [*ipa, "route", "add", "198.51.100.0/24", "dev", "wan0"],
        [*ipa, "route", "add", config.MOVE_NET, "dev", "wan0"],
        # LAN / VNet addresses live on empty bridges (this kernel has no dummy links)
        [*ipo, "link", "add", "lan0", "type", "bridge"],
        [*ipo, "link", "set", "lan0", "up"],
        [*ipa, "link", "add", "vnet0", "type", "bridge"],
        [*ipa, "link", "set", "vnet0", "up"],
    ]
    cmds += [[*ipo, "addr", "add", a, "dev", "lan0"] for a in config.ONPREM_LANS]
    cmds += [[*ipa, "addr", "add", a, "dev", "vnet0"] for a in config.AZURE_VNETS]
    if multiwan:
        w2 = f"/{topology.WAN2_PREFIX}"
        cmds += [
            [*ipa, "addr", "add", f"{config.AZURE_GW4}/24", "dev", "wan0"],
            [*ipo, "link", "add", "wan2", "type", "veth", "peer", "name", "wan2", "netns", az],
            [*ipo, "addr", "add", config.ONPREM_WAN2 + w2, "dev", "wan2"],
            [*ipa, "addr", "add", topology.AZURE_WAN2_END + w2, "dev", "wan2"],
            [*ipo, "link", "set", "wan2", "up"],
            [*ipa, "link", "set", "wan2", "up"],
        ]
    return cmds


def anchor_script(d: Path) -> str:
    """Shell run by ``ip netns exec`` (private mount ns): bind mounts, private /dev, sleep."""
    hd = d / "hostdev"
    script = "set -e\n"
    script += f"mount --bind '{d}/run' /run\n"
    for f in ("strongswan.conf", "swanctl", "ipsec.conf", "ipsec.secrets"):
        script += f"mount --bind '{d}/etc/{f}' /etc/{f}\n"
    # private /dev: host nodes bound in; /dev/log becomes ours (bound to the lab syslogd)
    script += f"mount --rbind /dev '{hd}'\nmount -t tmpfs -o mode=755,size=1m labdev /dev\n"
    for n in DEV_NODES:
        script += (
            f"if [ -e '{hd}/{n}' ]; then touch /dev/{n}; mount --bind '{hd}/{n}' /dev/{n}; fi\n"
        )
    for n in DEV_DIRS:
        script += (
            f"if [ -d '{hd}/{n}' ]; then mkdir /dev/{n}; mount --rbind '{hd}/{n}' /dev/{n}; fi\n"
        )
    script += "ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin\n"
    script += "ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr\n"
    script += f"umount -l '{hd}'\ntouch /dev/log\ntouch '{d}/anchor.ready'\nexec sleep infinity\n"
    return script


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def pids(name: str) -> list[int]:
    res = run(["ip", "netns", "pids", name], timeout=10, ok_codes=(0, 1))
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def send_signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def wait_gone(pids: Sequence[int], procs: Sequence[subprocess.Popen], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        for p in procs:
            p.poll()  # reap our own children so they do not linger as zombies
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def stop_pids(pids: Sequence[int], procs: Sequence[subprocess.Popen]) -> None:
    for pid in pids:
        send_signal(pid, signal.SIGTERM)
    for pid in wait_gone(pids, procs, 5):
        log.warning("pid %d ignored SIGTERM; sending SIGKILL", pid)
        send_signal(pid, signal.SIGKILL)
    wait_gone(pids, procs, 5)
