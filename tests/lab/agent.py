"""Run the real s2s-agent daemon inside the lab's onprem namespace (where pfSense runs it).

Used by the end-to-end tests, ``make demo`` and the benchmarks. The agent sees the onprem
charon at ``/var/run/charon.vici``, runs swanctl/ipsec/ping there, and its control socket,
state and alert syslog socket live in the host-visible lab directory.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from .lab import Lab
from .netns import wait_for


class SyslogListener:
    """A real AF_UNIX datagram syslog socket that collects what the agent sends."""

    def __init__(self, path: Path):
        self.path = path
        if path.exists():
            path.unlink()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def drain(self) -> list[str]:
        while True:
            try:
                self.messages.append(self.sock.recv(8192).decode("utf-8", "replace"))
            except BlockingIOError:
                return self.messages

    def close(self) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)


class LabAgent:
    def __init__(self, lab: Lab, name: str = "agent", *, source: str = "vici",
                 interval: float = 1.0, probe: bool = True, log: str = "syslog",
                 reminder: float = 3600.0):  # fmt: skip
        self.lab = lab
        self.dir = lab.root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.dir / "s2s-agent.yaml"
        self.syslog = SyslogListener(self.dir / "alerts.sock")
        tunnel = {"name": "azure-hq", "ike": "con1", "children": ["con1"]}
        if probe:
            tunnel["probe"] = {"source": "192.168.1.1", "target": "10.1.10.1", "count": 2, "timeout": 1}
        cfg = {
            "agent": {"interval": interval, "state_dir": str(self.dir / "state"),
                      "control_socket": str(self.dir / "s2s-agent.sock"), "log_level": "info"},
            "strongswan": {"source": source, "command_timeout": 5,
                           "log_file": str(lab.syslog_log() if log == "syslog" else lab.charon_log("onprem"))},
            "alerts": {"syslog_socket": str(self.syslog.path), "reminder_interval": reminder},
            "health": {"event_window": 300},
            "tunnels": [tunnel],
        }  # fmt: skip
        self.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.proc: subprocess.Popen | None = None
        self.stderr_path = self.dir / "agent.stderr"

    def start(self) -> LabAgent:
        self._stderr = open(self.stderr_path, "ab")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = self.lab.popen(
            "onprem", [sys.executable, "-m", "s2s_agent", "run", "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL, stderr=self._stderr, env=env,
        )  # fmt: skip
        wait_for(lambda: self.status_or_none() is not None, 15, what="the agent's control socket")
        return self

    def stop(self) -> int | None:
        rc = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        elif self.proc is not None:
            rc = self.proc.returncode
        if getattr(self, "_stderr", None):
            self._stderr.close()
        self.syslog.close()
        return rc

    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "s2s_agent", *args, "-c", str(self.config_path)],
            capture_output=True, text=True, timeout=30, check=check,
        )  # fmt: skip

    def status_or_none(self) -> dict | None:
        r = self.cli("status", "--json")
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)

    def status(self) -> dict:
        doc = self.status_or_none()
        assert doc is not None, f"agent not answering; stderr: {self.stderr_tail()}"
        return doc

    def tunnel(self) -> dict:
        return self.status()["tunnels"][0]

    def wait_tunnel(self, pred, timeout: float, what: str) -> dict:
        last: dict = {}

        def check():
            nonlocal last
            doc = self.status_or_none()
            if doc is None:
                return None
            last = doc["tunnels"][0]
            return last if pred(last) else None

        try:
            return wait_for(check, timeout, interval=0.5, what=what)
        except Exception as exc:
            raise AssertionError(f"{what}: last tunnel status {last}; agent stderr: {self.stderr_tail()}") from exc

    def stderr_tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def alerts(self) -> list[str]:
        return self.syslog.drain()

    def cpu_rss(self) -> tuple[float, int]:
        """(user+system CPU seconds, RSS bytes) of the agent process itself."""
        pid = self._agent_pid()
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        cpu = (int(fields[11]) + int(fields[12])) / ticks
        rss = 0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
        return cpu, rss

    def _agent_pid(self) -> int:
        return int(self.status()["agent"]["pid"])
