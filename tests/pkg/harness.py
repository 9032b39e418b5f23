"""Shared helpers of the package's PHP tests: the settings, phase 1 entries and status
document they use, and the two runners (the .inc harness and a rendered page)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .conftest import FILES, require_tool

STUBS = Path(__file__).parent / "php_stubs"
INC = FILES / "usr/local/pkg/s2s-agent.inc"


PHASE1 = [
    {
        "ikeid": "1",
        "descr": "Azure HQ",
        "remote-gateway": "198.51.100.1",
        "myid_type": "address",
        "myid_data": "203.0.113.5",
    },
    {"ikeid": "2", "descr": "other", "myid_type": "myaddress"},
]
GOOD = {
    "enable": "on",
    "ikeid": "1",
    "tunnel_name": "azure-hq",
    "children": "",
    "interval": "15",
    "log_level": "info",
    "probe_source": "192.168.1.1",
    "probe_target": "10.1.10.4",
    "probe_count": "3",
    "probe_timeout": "2",
    "remediation": "on",
    "cloud": "AzureCloud",
    "tenant_id": "11111111-2222-3333-4444-555555555555",
    "client_id": "66666666-7777-8888-9999-000000000000",
    "subscription_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "auth_method": "secret",
    "client_secret": "s3cr3t-value",
    "resource_group": "rg-net",
    "local_network_gateway": "lng-hq",
    "connection": "cn-hq",
    "wan_source": "interface",
    "wan_interface": "wan",
}


def run_harness(
    tmp_path: Path, mode: str, settings: dict | None = None, arg=None, extra: dict | None = None
) -> dict:
    php = require_tool("php")
    cfg = {
        "ipsec": {"phase1": PHASE1},
        "installedpackages": {"s2sagent": {"config": [settings or {}]}},
        **(extra or {}),
    }
    cfg_file = tmp_path / "config.json"
    cfg_file.write_text(json.dumps(cfg))
    argv = [php, str(STUBS / "harness.php"), str(INC), str(cfg_file), str(tmp_path), mode]
    if arg is not None:
        argv.append(json.dumps(arg))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


STATUS = {
    "version": 1,
    "source": "daemon",
    "age_seconds": 0,
    "agent": {
        "version": "0.1.0",
        "pid": 123,
        "started": "2026-11-26T22:00:00+00:00",
        "config": "/usr/local/etc/s2s-agent.yaml",
        "sa_source": "vici",
        "error": None,
    },
    "tunnels": [
        {
            "name": "<script>alert(1)</script>",
            "ike": "con1",
            "children": ["con1"],
            "health": "DEGRADED",
            "reasons": ["probe_loss"],
            "since": "2026-11-26T22:01:00+00:00",
            "ike_state": "ESTABLISHED",
            "child_states": {"con1": "INSTALLED"},
            "established_seconds": 3725,
            "local_host": "203.0.113.5",
            "remote_host": "198.51.100.1",
            "local_id": "203.0.113.5",
            "remote_id": "198.51.100.1",
            "bytes_in": 2048,
            "bytes_out": 10,
            "packets_in": 4,
            "packets_out": 1,
            "probe": {
                "source": "192.168.1.1",
                "target": "10.1.10.4",
                "sent": 3,
                "received": 2,
                "loss": 0.33,
                "rtt_avg_ms": 0.5,
                "error": None,
                "time": "2026-11-26T22:02:00+00:00",
            },
            "events": [{"time": None, "conn": "con1", "kind": "dpd_request", "message": "a<b>&c"}],
            "azure": {"status": "Connected", "ingress_bytes": 5, "egress_bytes": 7},
            "remediation": {
                "enabled": True,
                "role": "standalone",
                "role_detail": "no CARP configured",
                "wan_ip": "192.0.2.77",
                "wan_candidate": None,
                "applied_ip": "192.0.2.77",
                "lng_ip": "192.0.2.77",
                "running": False,
                "azure_writes_last_hour": 1,
                "plan": {"steps": [], "reason": "tunnel UP: nothing to do", "blocked": None},
            },
            "remediations": [
                {
                    "started": "2026-11-26T22:01:00+00:00",
                    "trigger": "<i>x</i>",
                    "ok": True,
                    "seconds": 2.1,
                    "steps": [
                        {
                            "kind": "update_lng",
                            "ok": True,
                            "seconds": 2.0,
                            "detail": "LNG gatewayIpAddress -> 192.0.2.77",
                        }
                    ],
                }
            ],
        }
    ],
}


def render_page(tmp_path: Path, page: str, agent_script: str) -> subprocess.CompletedProcess:
    """Run a page of the package under php-cli, with ``agent_script`` as the s2s-agent command."""
    php = require_tool("php")
    fake = tmp_path / "s2s-agent"
    fake.write_text(agent_script)
    fake.chmod(0o755)
    www = FILES / "usr/local/www"
    inc = tmp_path / "s2s_agent.inc"
    inc.write_text((www / "widgets/include/s2s_agent.inc").read_text())
    src = (www / page).read_text().replace("/usr/local/www/widgets/include/s2s_agent.inc", str(inc))
    (tmp_path / "page.php").write_text(src)
    prepend = tmp_path / "prepend.php"
    prepend.write_text(
        f"<?php define('S2S_AGENT_BIN', {json.dumps(str(fake))});\n"
        f"define('S2S_AGENT_STATE_FILE', {json.dumps(str(tmp_path / 'state.json'))});\n"
        "define('S2S_AGENT_STATUS_TIMEOUT', 2);\n"
    )
    argv = [
        php,
        "-d",
        f"include_path={STUBS}",
        "-d",
        f"auto_prepend_file={prepend}",
        str(tmp_path / "page.php"),
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)
