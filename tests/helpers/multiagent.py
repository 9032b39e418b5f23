"""The agent's config in the tunnels form for the multi-WAN lab (issue 10): two credential
profiles (one per subscription's principal of the fake Azure), one entry per tunnel with its
probe, its WAN source and its LNG (con1 + con4 on ``lng-pfsense``, con2 on
``lng-pfsense-b``). Used by the multi-heal benchmark (tests/bench/multiheal.py)."""

from __future__ import annotations

import yaml

from tests.helpers.multiwan import PINGS
from tests.lab import config


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
