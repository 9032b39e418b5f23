"""The project's two-peer strongSwan lab: real charons in two network namespaces.

Layout under ``root`` (one directory per side, ``onprem`` and ``azure``)::

    <root>/<side>/etc/{strongswan.conf,swanctl/,ipsec.conf,ipsec.secrets}  bind-mounted over /etc
    <root>/<side>/run/        bind-mounted over /run (charon.pid, charon.vici, charon.ctl)
    <root>/<side>/charon.log  charon filelog (``Nov 26 22:47:17 09[IKE] <con1|1> ...``)
    <root>/onprem/ipsec.log   the same events via libc syslog -> /dev/log -> lab syslogd
    <root>/lab.json           prefix, scenario and addresses (for ``python -m tests.lab``)

Each side has an *anchor* process (``sleep infinity`` started by ``ip netns exec``, which
gives it a private mount namespace) that owns the bind mounts and a private tmpfs ``/dev``
(host device nodes bound in, plus ``/dev/log`` bound to the lab syslogd's socket). charon,
swanctl, ping and the agent all enter the anchor's net+mount namespaces with ``nsenter``,
so ``/var/run/charon.vici`` always resolves to that side's charon, even across restarts.

WAN address changes, multi-WAN failover and what the Azure gateways expect (per LNG) live in
:mod:`tests.lab.wan`; addressing and tunnels in :mod:`tests.lab.topology`.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from s2s_agent.core.osio import Result, run

from . import config, netns, plugins, topology
from .config import Scenario
from .netns import LabError, PingResult, wait_for
from .wan import WanControl

__all__ = ["Lab", "LabError", "PingResult", "Scenario", "wait_for"]

log = logging.getLogger(__name__)

CHARON = "/usr/lib/ipsec/charon"
SIDES = ("onprem", "azure")


class Lab(WanControl):
    """Build, drive and tear down the lab. ``down()`` is idempotent and safe on leftovers."""

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        prefix: str = "s2s",
        scenario: Scenario | None = None,
        autoclean: bool = True,
    ) -> None:
        self.root = Path(root).resolve()
        self.prefix = prefix
        self.scenario = scenario or Scenario()
        self.autoclean = autoclean
        self.wan_ip = config.ONPREM_WAN
        self.wan2_ip = config.ONPREM_WAN2
        self.active_wan = "wan1"
        self.azure_expects = config.ONPREM_WAN
        self.lng_ips = {name: config.ONPREM_WAN for name in topology.lngs(self.scenario)}
        self._procs: list[subprocess.Popen] = []
        if len(str(self.root / "onprem" / "syslog.sock")) > 100:
            raise LabError(f"lab root {self.root} is too long for a Unix socket path")

    # ---- naming / paths -------------------------------------------------------------
    def netns(self, side: str) -> str:
        if side not in SIDES:
            raise LabError(f"unknown side {side!r} (use one of {SIDES})")
        return f"{self.prefix}-{side}"

    def dir(self, side: str) -> Path:
        self.netns(side)
        return self.root / side

    def vici_socket(self, side: str = "onprem") -> Path:
        return self.dir(side) / "run" / "charon.vici"

    def charon_log(self, side: str = "onprem") -> Path:
        return self.dir(side) / "charon.log"

    def syslog_log(self) -> Path:
        return self.dir("onprem") / "ipsec.log"

    def _pidfile(self, side: str, name: str) -> int | None:
        try:
            pid = int((self.dir(side) / name).read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if netns.alive(pid) else None

    def anchor_pid(self, side: str) -> int:
        pid = self._pidfile(side, "anchor.pid")
        if pid is None:
            raise LabError(f"the {side} side is not up (no anchor process); run Lab.up() first")
        return pid

    def charon_pid(self, side: str) -> int | None:
        return self._pidfile(side, "run/charon.pid")

    # ---- running things inside a side -------------------------------------------------
    def _enter(self, side: str) -> list[str]:
        return ["nsenter", "-t", str(self.anchor_pid(side)), "-n", "-m", "--"]

    def exec(
        self,
        side: str,
        argv: Sequence[str],
        *,
        timeout: float = 10.0,
        ok_codes: Sequence[int] = (0,),
    ) -> Result:
        """Run a short command in ``side``'s network + mount namespace (via osio.run)."""
        return run([*self._enter(side), *argv], timeout=timeout, ok_codes=ok_codes)

    def popen(self, side: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        """Start a long-running process in ``side`` (killed by ``down()``)."""
        kwargs.setdefault("start_new_session", True)
        proc = subprocess.Popen([*self._enter(side), *argv], **kwargs)
        self._procs.append(proc)
        return proc

    def swanctl(
        self, side: str, *args: str, timeout: float = 10.0, ok_codes: Sequence[int] = (0,)
    ) -> Result:
        return self.exec(side, ["swanctl", *args], timeout=timeout, ok_codes=ok_codes)

    def ipsec(
        self, side: str, *args: str, timeout: float = 10.0, ok_codes: Sequence[int] = (0,)
    ) -> Result:
        return self.exec(side, ["ipsec", *args], timeout=timeout, ok_codes=ok_codes)

    # ---- life cycle ---------------------------------------------------------------
    def up(self) -> Lab:
        """Build namespaces, links, configs, syslogd and both charons. Cleans up on failure."""
        if any(netns.exists(self.netns(s)) for s in SIDES):
            log.warning(
                "leftover namespaces with prefix %s found; removing them first", self.prefix
            )
            self.down()
        if self.autoclean:
            atexit.register(self.down)
        try:
            self._build_network()
            for side in SIDES:
                self._write_configs(side)
                self._start_anchor(side)
            if self.scenario.syslog:
                self._start_syslogd()
            self.start_charon("azure")
            self.start_charon("onprem")
            self._save_state()
            if not self.underlay_ok():
                raise LabError("onprem cannot ping the azure WAN address over the veth")
        except BaseException:
            self.down()
            raise
        return self

    def down(self) -> None:
        """Kill every process in the lab's namespaces (by pid), delete the namespaces."""
        for side in SIDES:
            ns = self.netns(side)
            if not netns.exists(ns):
                continue
            pids = netns.pids(ns)
            pids += [p for p in (self._pidfile(side, "anchor.pid"),) if p and p not in pids]
            netns.stop_pids(pids, self._procs)
            run(["ip", "netns", "del", ns], timeout=10, ok_codes=(0, 1))
        for proc in self._procs:
            if proc.poll() is None:
                netns.stop_pids([proc.pid], self._procs)
        self._procs.clear()

    def __enter__(self) -> Lab:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def status(self) -> dict:
        out: dict[str, Any] = {"root": str(self.root), "prefix": self.prefix}
        for side in SIDES:
            ns = self.netns(side)
            out[side] = {
                "netns": ns,
                "exists": netns.exists(ns),
                "charon_pid": self.charon_pid(side),
                "vici": str(self.vici_socket(side)),
            }
        return out

    # ---- tunnel control --------------------------------------------------------------
    def initiate(self, child: str = "con1", side: str = "onprem", *, timeout: float = 30) -> Result:
        if self.scenario.mode == "starter":
            return self.ipsec(side, "up", child, timeout=timeout + 5)
        return self.swanctl(
            side, "--initiate", "--child", child, "--timeout", f"{timeout:g}", timeout=timeout + 5
        )

    def terminate_ike(
        self, name: str = "con1", side: str = "onprem", *, timeout: float = 10, force: bool = False
    ) -> Result:
        """Delete an IKE SA; ``force`` drops it without waiting for a dead peer (never fails)."""
        if self.scenario.mode == "starter" and not force:  # stroke has no --force; vici does
            return self.ipsec(side, "down", name, timeout=timeout + 5)
        # force without --timeout: charon destroys the SA at once (with a timeout it waits
        # for the dead peer and reports a failure)
        extra = ["--force"] if force else ["--timeout", f"{timeout:g}"]
        return self.swanctl(
            side,
            "--terminate",
            "--ike",
            name,
            *extra,
            timeout=timeout + 5,
            ok_codes=(0, 1) if force else (0,),
        )

    def ping(
        self,
        count: int = 1,
        *,
        src: str = "192.168.1.1",
        dst: str = "10.1.10.1",
        side: str = "onprem",
    ) -> PingResult:
        """In-tunnel ping (LAN address to VNet address); never raises for lost packets."""
        res = self.exec(
            side,
            ["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "1", "-I", src, dst],
            timeout=count * 1.5 + 5,
            ok_codes=(0, 1, 2),
        )
        m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", res.stdout)
        return PingResult(int(m.group(1)), int(m.group(2))) if m else PingResult(count, 0)

    def underlay_ok(self) -> bool:
        res = self.exec(
            "onprem",
            ["ping", "-n", "-q", "-c", "1", "-W", "1", config.AZURE_GW1],
            timeout=5,
            ok_codes=(0, 1, 2),
        )
        return res.returncode == 0

    def kill_charon(self, side: str = "azure") -> None:
        """SIGKILL the side's charon (and starter first, or it would restart charon)."""
        pids = [
            p for p in (self._pidfile(side, "run/starter.charon.pid"), self.charon_pid(side)) if p
        ]
        for pid in pids:
            netns.send_signal(pid, signal.SIGKILL)
        netns.wait_gone(pids, self._procs, 5)

    def start_charon(self, side: str) -> None:
        """Start the side's daemon (charon, or starter in starter mode) and load its config."""
        if self.charon_pid(side):
            return
        d = self.dir(side)
        for stale in ("charon.pid", "charon.vici", "charon.ctl", "starter.charon.pid"):
            (d / "run" / stale).unlink(missing_ok=True)
        argv = (
            ["/usr/sbin/ipsec", "start", "--nofork"]
            if self.scenario.mode == "starter"
            else [CHARON]
        )
        with open(d / "charon.stdout", "ab") as out:
            self.popen(side, argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.wait_for(
            lambda: self.vici_socket(side).exists() and self.charon_pid(side),
            10,
            what=f"{side} charon to open its VICI socket",
        )
        plugins.check(side, self.vici_socket(side))
        if self.scenario.mode == "swanctl":
            self.swanctl(side, "--load-all", "--noprompt", timeout=15)
        else:
            self.wait_for(
                lambda: (d / "run" / "charon.ctl").exists(), 10, what=f"{side} stroke socket"
            )
            self.wait_for(
                lambda: "Connections:" in self.ipsec(side, "statusall", ok_codes=(0, 1, 3)).stdout,
                10,
                what=f"{side} starter to load ipsec.conf",
            )

    wait_for = staticmethod(wait_for)

    # ---- building blocks --------------------------------------------------------------
    def _build_network(self) -> None:
        for argv in netns.network_commands(
            self.netns("onprem"), self.netns("azure"), self.wan_ip, multiwan=self.scenario.multiwan
        ):
            run(argv, timeout=10)

    def _write_configs(self, side: str, *, onprem_ip: str | None = None) -> None:
        sc, d = self.scenario, self.dir(side)
        ip = onprem_ip or config.ONPREM_WAN
        etc = d / "etc"
        for sub in netns.SWANCTL_SUBDIRS:
            (etc / "swanctl" / sub).mkdir(parents=True, exist_ok=True)
        (d / "run").mkdir(exist_ok=True)
        (d / "hostdev").mkdir(exist_ok=True)
        syslog = sc.syslog and side == "onprem"
        (etc / "strongswan.conf").write_text(
            config.strongswan_conf(sc, str(d / "charon.log"), syslog=syslog)
        )
        if side == "onprem":
            swan = config.onprem_swanctl(sc, ip)
        else:  # the gateways follow their LNGs
            ip = self.azure_expects
            swan = config.azure_swanctl(sc, ip, self.lng_ips)
        netns.write_private(etc / "swanctl" / "swanctl.conf", swan)
        (etc / "ipsec.conf").write_text(config.ipsec_conf(sc, side, ip))
        netns.write_private(etc / "ipsec.secrets", config.ipsec_secrets(sc, side, ip))

    def _start_anchor(self, side: str) -> None:
        d = self.dir(side)
        (d / "anchor.ready").unlink(missing_ok=True)
        script = netns.anchor_script(d)
        with open(d / "anchor.stdout", "ab") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.netns(side), "sh", "-c", script],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._procs.append(proc)
        (d / "anchor.pid").write_text(f"{proc.pid}\n")
        self.wait_for(
            lambda: (d / "anchor.ready").exists() or proc.poll() is not None,
            10,
            what=f"{side} anchor mounts",
        )
        if proc.poll() is not None:
            raise LabError(f"{side} anchor failed: {(d / 'anchor.stdout').read_text()[-500:]}")

    def _start_syslogd(self) -> None:
        d = self.dir("onprem")
        sock = d / "syslog.sock"
        sock.unlink(missing_ok=True)
        self.syslog_log().touch()
        script = Path(__file__).with_name("syslogd.py")
        with open(d / "syslogd.stdout", "ab") as out:
            self.popen(
                "onprem",
                [sys.executable, str(script), str(sock), str(self.syslog_log())],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.wait_for(sock.exists, 10, what="the lab syslogd socket")
        self.exec("onprem", ["mount", "--bind", str(sock), "/dev/log"])

    def _save_state(self) -> None:
        state = {
            "prefix": self.prefix,
            "scenario": asdict(self.scenario),
            "wan_ip": self.wan_ip,
            "wan2_ip": self.wan2_ip,
            "active_wan": self.active_wan,
            "azure_expects": self.azure_expects,
            "lng_ips": self.lng_ips,
        }
        (self.root / "lab.json").write_text(json.dumps(state, indent=2) + "\n")

    def refresh(self) -> None:
        """Re-read the addresses another process (the fake Azure's hook) changed."""
        state = json.loads((self.root / "lab.json").read_text())
        self.wan_ip, self.azure_expects = state["wan_ip"], state["azure_expects"]
        self.wan2_ip = state.get("wan2_ip", self.wan2_ip)
        self.active_wan = state.get("active_wan", self.active_wan)
        self.lng_ips = state.get("lng_ips", self.lng_ips)

    @classmethod
    def load(cls, root: str | os.PathLike) -> Lab:
        """Re-attach to a lab built by another process (``python -m tests.lab``)."""
        state = json.loads((Path(root) / "lab.json").read_text())
        lab = cls(
            root, prefix=state["prefix"], scenario=Scenario(**state["scenario"]), autoclean=False
        )
        lab.refresh()
        return lab
