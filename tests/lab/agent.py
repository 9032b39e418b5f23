"""Run the real s2s-agent daemon inside the lab's onprem namespace (where pfSense runs it).

Used by the end-to-end tests, ``make demo`` and the benchmarks. The agent sees the onprem
charon at ``/var/run/charon.vici``, runs swanctl/ipsec/ping there, and its control socket,
state and alert syslog socket live in the host-visible lab directory.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
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


class FakeAzureProc:
    """The fake Azure (Entra ID + ARM over HTTPS) as a process in the onprem namespace.

    An LNG IP change runs ``python -m tests.lab azure-peer`` (S2S_NEW_IP set): the Azure-side
    charon is reprogrammed to expect the onprem gateway at the new IP, as Azure does.
    """

    def __init__(
        self,
        lab: Lab,
        *,
        lro_delay: int = 0,
        fail_puts: int = 0,
        second_site: bool = False,
        fail_lngs: tuple[str, ...] = (),
    ):
        """``second_site``: LNG ``lng-pfsense-b`` in a second subscription (own principal);
        ``fail_lngs``: ``NAME[:STATUS]`` whose PUTs always fail (see ``python -m tests.fakeazure``)."""
        self.lab = lab
        self.info_path = lab.root / "fakeazure.json"
        self.info_path.unlink(missing_ok=True)
        repo = Path(__file__).resolve().parents[2]
        hook = f"{sys.executable} -m tests.lab azure-peer --root {lab.root}"
        self.proc = lab.popen(
            "onprem",
            [
                sys.executable,
                "-m",
                "tests.fakeazure",
                "--info",
                str(self.info_path),
                "--on-change-cmd",
                hook,
                "--gateway-ip",
                lab.wan_ip,
                "--lro-delay",
                str(lro_delay),
                "--fail-puts",
                str(fail_puts),
                *(["--second-site"] if second_site else []),
                *(a for f in fail_lngs for a in ("--fail-lng", f)),
            ],
            cwd=str(repo),
            env={**os.environ, "PYTHONPATH": str(repo)},
            stdout=subprocess.DEVNULL,
            stderr=open(lab.root / "fakeazure.log", "ab"),  # noqa: SIM115
        )
        wait_for(
            lambda: self.info_path.exists() and self.info_path.stat().st_size > 0,
            20,
            what="the fake Azure to start",
        )
        time.sleep(0.2)
        self.info = json.loads(self.info_path.read_text())

    def settings(self, agent_dir: Path) -> dict:
        secret = agent_dir / "azure-secret"
        secret.write_text(self.info["client_secret"])
        secret.chmod(0o600)
        i = self.info
        return {
            "tenant_id": i["tenant_id"],
            "client_id": i["client_id"],
            "client_secret_file": str(secret),
            "subscription_id": i["subscription_id"],
            "resource_group": i["resource_group"],
            "local_network_gateway": i["lng_name"],
            "connection": i["connection_name"],
            "authority": i["url"],
            "arm_endpoint": i["url"],
            "ca_bundle": i["ca_path"],
        }

    def _azclient(self, *args: str) -> str:
        repo = str(Path(__file__).resolve().parents[2])
        argv = [sys.executable, "-m", "tests.lab.azclient", "--info", str(self.info_path), *args]
        return self.lab.exec(
            "onprem", ["env", f"PYTHONPATH={repo}", *argv], timeout=90
        ).stdout.strip()

    def put_lng_ip(self, lng: str, ip: str) -> str:
        """PUT the LNG's address with the real SDK as its subscription's principal (raises
        CommandError if Azure refuses); returns the final provisioningState."""
        state = self._azclient("put", lng, ip)
        self.lab.refresh()  # the hook (another process) changed what the gateways expect
        return state

    def stats(self) -> dict:
        """Per-LNG counters: ``{"lngs": {name: {"puts", "writes", "gatewayIpAddress", ...}}}``."""
        return json.loads(self._azclient("stats"))

    def lng_ip(self) -> str | None:
        """Ask the fake over HTTPS from inside the namespace, as any client would."""
        code = (
            "import json,sys,requests; i=json.load(open(sys.argv[1]));"
            "t=requests.post(i['url']+'/'+i['tenant_id']+'/oauth2/v2.0/token',data={'grant_type':"
            "'client_credentials','client_id':i['client_id'],'client_secret':i['client_secret'],"
            "'scope':'https://management.azure.com/.default'},verify=i['ca_path']).json()['access_token'];"
            "r=requests.get(i['url']+i['lng_id'],params={'api-version':'2024-05-01'},"
            "headers={'Authorization':'Bearer '+t},verify=i['ca_path']);"
            "print(r.json()['properties']['gatewayIpAddress'])"
        )
        out = self.lab.exec("onprem", [sys.executable, "-c", code, str(self.info_path)], timeout=20)
        return out.stdout.strip() or None

    def stop(self) -> None:
        """Stop the fake; AssertionError if a client sent anything the Azure spec forbids."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        report = Path(str(self.info_path) + ".violations")
        if report.exists():
            violations = json.loads(report.read_text())
            report.unlink()
            assert not violations, f"requests/responses outside the Azure REST spec: {violations}"


class LabAgent:
    def __init__(
        self,
        lab: Lab,
        name: str = "agent",
        *,
        source: str = "vici",
        interval: float = 1.0,
        probe: bool = True,
        log: str = "syslog",
        reminder: float = 3600.0,
        azure: FakeAzureProc | None = None,
        remediation: dict | None = None,
        wan: dict | None = None,
        swanctl: str | None = None,
    ):
        self.lab = lab
        self.dir = lab.root / name
        shutil.rmtree(self.dir, ignore_errors=True)  # every agent starts without memory
        self.dir.mkdir(parents=True)
        self.config_path = self.dir / "s2s-agent.yaml"
        self.syslog = SyslogListener(self.dir / "alerts.sock")
        tunnel = {"name": "azure-hq", "ike": "con1", "children": ["con1"]}
        if probe:
            tunnel["probe"] = {
                "source": "192.168.1.1",
                "target": "10.1.10.1",
                "count": 2,
                "timeout": 1,
            }
        cfg = {
            "agent": {
                "interval": interval,
                "state_dir": str(self.dir / "state"),
                "control_socket": str(self.dir / "s2s-agent.sock"),
                "log_level": "info",
            },
            "strongswan": {
                "source": source,
                "command_timeout": 5,
                "log_file": str(lab.syslog_log() if log == "syslog" else lab.charon_log("onprem")),
            },
            "alerts": {"syslog_socket": str(self.syslog.path), "reminder_interval": reminder},
            "health": {"event_window": 300},
            "tunnels": [tunnel],
        }
        if swanctl is not None:
            cfg["strongswan"]["swanctl"] = swanctl
        if azure is not None:
            cfg["azure"] = azure.settings(self.dir)
            cfg["wan"] = {
                "source": "interface",
                "interface": "wan0",
                "allow_private": True,
                "hold_seconds": 0.3,
                "hold_count": 1,
                "poll_interval": 5,
                **(wan or {}),
            }
            cfg["remediation"] = {
                "enabled": True,
                "local_backend": "swanctl",
                "swanctl_conf": "/etc/swanctl/swanctl.conf",
                "verify_timeout": 15,
                "azure_status_interval": 5,
                **(remediation or {}),
            }
        self.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.proc: subprocess.Popen | None = None
        self.stderr_path = self.dir / "agent.stderr"

    def start(self) -> LabAgent:
        self._stderr = open(self.stderr_path, "ab")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = self.lab.popen(
            "onprem",
            [sys.executable, "-m", "s2s_agent", "run", "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env=env,
        )
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

    def crash(self) -> None:
        """SIGKILL the daemon (a crash: no clean-up, whatever it was doing)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._stderr.close()

    def cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "s2s_agent", *args, "-c", str(self.config_path)],
            capture_output=True,
            text=True,
            timeout=30,
            check=check,
        )

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
            raise AssertionError(
                f"{what}: last tunnel status {last}; agent stderr: {self.stderr_tail()}"
            ) from exc

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
