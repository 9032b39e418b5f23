"""The agent on the multi-WAN lab, shared by the agent e2e tests (tests/test_multi_agent_lab.py,
tests/test_failover_lab.py): its tunnels-form config (two profiles, three tunnels on two LNGs),
starting it with the fake Azure, and waiting on every tunnel's status; also the multi-heal
benchmark (tests/bench/multiheal.py) and the reload lab test (tests/test_reload_lab.py)."""

from __future__ import annotations

import re
import threading
import time

import yaml

from tests.helpers.multiwan import PINGS
from tests.lab import config
from tests.lab.agent import FakeAzureProc, LabAgent
from tests.lab.lab import Lab

LNG_A, LNG_B = config.LNG_A, config.LNG_B


def rewrite_as_tunnels(agent, azure, tunnels=tuple(PINGS), wan: dict | None = None) -> None:
    """Rewrite ``agent``'s single-tunnel config (a ``LabAgent`` built with ``azure``) into
    the tunnels form for ``tunnels`` (names of :data:`PINGS`), all on ``wan``; again for
    another set of tunnels (a reload test)."""
    original = agent.dir / "single-tunnel.yaml"  # kept: the tunnels form may be rewritten
    if not original.exists():
        original.write_text(agent.config_path.read_text())
    cfg = yaml.safe_load(original.read_text())
    single = cfg.pop("azure")
    site_b = next(s for s in azure.info["sites"] if s["lng_name"] == config.LNG_B)
    secret_b = agent.dir / "azure-secret-b"
    secret_b.write_text(site_b["client_secret"])
    secret_b.chmod(0o600)
    common = {k: single[k] for k in ("tenant_id", "authority", "arm_endpoint", "ca_bundle")}
    cfg["azure_profiles"] = {
        "corp": {
            **common,
            "client_id": single["client_id"],
            "client_secret_file": single["client_secret_file"],
        },
        "branch": {**common, "client_id": site_b["client_id"], "client_secret_file": str(secret_b)},
    }
    a = {
        "profile": "corp",
        "subscription_id": single["subscription_id"],
        "resource_group": single["resource_group"],
        "local_network_gateway": config.LNG_A,
        "connection": single["connection"],
    }
    b = {
        "profile": "branch",
        "subscription_id": site_b["subscription_id"],
        "resource_group": site_b["resource_group"],
        "local_network_gateway": config.LNG_B,
        "connection": site_b["connection_name"],
    }
    wan = wan or {"source": "interface", "interface": "wan0"}
    cfg["tunnels"] = [
        {
            "name": ike,
            "ike": ike,
            "children": [ike],
            "probe": {"source": PINGS[ike][0], "target": PINGS[ike][1], "count": 2, "timeout": 1},
            "wan": wan,
            "azure": b if ike == "con2" else a,
        }
        for ike in tunnels
    ]
    agent.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))


def multi_agent(
    lab: Lab,
    azure: FakeAzureProc,
    name: str,
    *,
    wan_source: dict | None = None,
    wan: dict | None = None,
) -> LabAgent:
    """A LabAgent whose config is rewritten into the tunnels form: two profiles (one per
    subscription's principal), three tunnels, each with its LNG and WAN source
    (``wan_source``, default WAN1's interface ``wan0``; ``wan``: tracker settings)."""
    # a PUT that keeps failing (the SDK retries 5xx) must end well within the test's waits
    agent = LabAgent(lab, name, azure=azure, remediation={"azure_deadline": 20}, wan=wan)
    rewrite_as_tunnels(agent, azure, wan=wan_source)
    return agent


def tunnels(agent: LabAgent) -> dict[str, dict]:
    return {t["name"]: t for t in agent.status()["tunnels"]}


def wait_all(agent: LabAgent, pred, timeout: float, what: str) -> dict[str, dict]:
    out: dict = {}

    def check():
        nonlocal out
        agent.alerts()  # keep the syslog socket drained (its queue holds 10 datagrams)
        try:
            out = tunnels(agent)
        except Exception:
            return False
        return all(pred(out[n]) for n in PINGS) if all(n in out for n in PINGS) else False

    try:
        agent.lab.wait_for(check, timeout, what=what)
    except Exception as exc:
        brief = {
            n: (t.get("health"), t.get("remediation"), t.get("remediations", [])[:2])
            for n, t in out.items()
        }
        raise AssertionError(f"{exc}: {brief}; agent stderr: {agent.stderr_tail(30)}") from None
    return out


def local_hosts(lab: Lab) -> dict[str, str]:
    out = lab.swanctl("onprem", "--list-sas").stdout
    return dict(
        re.findall(
            r"^(con\d+): #\d+, ESTABLISHED, IKEv2.*?\n\s+local\s+'[^']*' @ ([\d.]+)", out, re.M
        )
    )


def run_agent(
    lab: Lab, name: str, *, wan_source: dict | None = None, wan: dict | None = None, **azure_opts
):
    """The fake Azure (two sites) and the agent on the multi-WAN lab, every tunnel UP."""
    azure = FakeAzureProc(lab, second_site=True, **azure_opts)
    agent = multi_agent(lab, azure, name, wan_source=wan_source, wan=wan)
    agent.start()
    wait_all(
        agent,
        lambda t: t["health"] == "UP" and t.get("remediation", {}).get("wan_ip"),
        40,
        "every tunnel UP with a known WAN IP",
    )
    return azure, agent


class LogWatch:
    """When a line containing ``needle`` first appears in the agent's stderr (a thread polls
    the file every 10 ms from the moment it is created)."""

    def __init__(self, path, needle: str):
        self.path, self.needle = path, needle
        self.offset = path.stat().st_size if path.exists() else 0
        self.seen: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                if self.needle.encode() in f.read():
                    self.seen = time.monotonic()
                    return

    def wait(self, timeout: float) -> float | None:
        self._thread.join(timeout)
        self._stop.set()
        return self.seen
