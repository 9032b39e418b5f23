"""The Azure SDK stays out of the idle daemon: importing and observing load no ``azure.*``.

Also measures what loading the SDK costs (RSS before/after ``import azure.identity,
azure.mgmt.network``); the figures are printed for the benchmark report (run with ``-s``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import json, os, shutil, sys, tempfile

    def rss_kib():
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])

    import s2s_agent.daemon, s2s_agent.cli, s2s_agent.act.azure
    from s2s_agent import config
    from s2s_agent.daemon import Daemon

    tmp = tempfile.mkdtemp()
    secret = os.path.join(tmp, "azure-secret")
    with open(secret, "w") as fh:
        fh.write("not-used")
    os.chmod(secret, 0o600)
    cfg = config.parse({
        "agent": {"state_dir": tmp, "control_socket": os.path.join(tmp, "ctl.sock")},
        "strongswan": {"source": "swanctl", "swanctl": "/nonexistent/swanctl",
                       "log_file": None, "command_timeout": 1},
        "tunnels": [{"name": "azure", "ike": "con1"}],
        "azure": {
            "tenant_id": "72f988bf-0000-4000-8000-5a2b3c4d5e6f",
            "client_id": "3c1e2d4f-0000-4000-8000-000000c11e47",
            "client_secret_file": secret, "client_certificate_file": None,
            "subscription_id": "6d1c7a0e-52b1-4c59-9d6e-3f0a1b2c3d4e",
            "resource_group": "rg-s2s", "local_network_gateway": "lng-office",
            "connection": "conn-office", "cloud": "AzureCloud",
        },
    }, "<test>")
    settings = cfg.azure
    client = s2s_agent.act.azure.AzureClient(settings)   # constructing it is lazy as well
    daemon = Daemon(cfg)
    daemon.cycle()
    loaded = sorted(m for m in sys.modules if m == "azure" or m.startswith(("azure.", "msal")))
    before = rss_kib()
    if "--measure" in sys.argv:
        import azure.identity, azure.mgmt.network  # noqa: F401
    after = rss_kib()
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps({"loaded": loaded, "tunnels": len(daemon.tunnels),
                      "rss_before_kib": before, "rss_after_kib": after}))
    """
)


def run_child(*args: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "agent"), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(ROOT),
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_idle_daemon_does_not_import_the_azure_sdk() -> None:
    out = run_child()
    assert out["tunnels"] == 1  # the observer cycle really ran
    assert out["loaded"] == []


def test_rss_cost_of_the_azure_sdk() -> None:
    out = run_child("--measure")
    before, after = out["rss_before_kib"] / 1024, out["rss_after_kib"] / 1024
    print(f"\nRSS idle daemon (observer cycle, no Azure SDK): {before:.1f} MiB")
    print(
        f"RSS after import azure.identity, azure.mgmt.network: {after:.1f} MiB "
        f"(+{after - before:.1f} MiB)"
    )
    assert after > before  # the SDK really was loaded in this process
