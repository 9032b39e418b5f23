"""The multi-WAN lab shared by tests/test_multi_lab.py and tests/test_multi_agent_lab.py:
the tunnels to ping, the lab built with ``Scenario(multiwan=True)``, and bringing every
tunnel to a working in-tunnel ping."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import config
from tests.lab.lab import Lab

PINGS = {  # tunnel -> (LAN source, VNet destination)
    "con1": ("192.168.1.1", "10.1.10.1"),
    "con2": ("192.168.1.1", "10.1.20.1"),
    "con4": ("192.168.2.1", "10.1.10.1"),
}
NEW_WAN1 = "192.0.2.50"  # in MOVE_NET, routed both ways


GROUP = {  # the lab's gateway group as a tunnel's `wan:` (WAN1 veth wan0 tier 1, WAN2 wan2 tier 2)
    "source": "gateway_group",
    "group": "WAN_FAILOVER",
    "resolver": "kernel",
    "members": [
        {"gateway": "WAN1GW", "tier": 1, "interface": "wan0"},
        {"gateway": "WAN2GW", "tier": 2, "interface": "wan2"},
    ],
}
SEEN = "WAN change seen (gateway_group WAN_FAILOVER)"  # the agent's log line on a switch


def require_lab() -> None:
    """Skip when the lab cannot run here; fail instead when ``S2S_REQUIRE_LAB`` is set (CI)."""
    from tests.conftest import lab_unavailable_reason

    reason = lab_unavailable_reason()
    if reason and os.environ.get("S2S_REQUIRE_LAB"):
        pytest.fail(f"S2S_REQUIRE_LAB is set but the lab cannot run: {reason}", pytrace=False)
    if reason:
        pytest.skip(reason)


def ping(lab: Lab, ike: str) -> bool:
    src, dst = PINGS[ike]
    return bool(lab.ping(1, src=src, dst=dst))


def bring_up(lab: Lab, timeout: float = 20) -> None:
    for ike in PINGS:
        if not ping(lab, ike):  # initiating a live child fails ("existing duplicate")
            lab.initiate(ike)
    for ike in PINGS:
        lab.wait_for(lambda i=ike: ping(lab, i), timeout, what=f"in-tunnel ping over {ike}")


def multiwan_lab(root: Path, prefix: str) -> Iterator[Lab]:
    """Build the multi-WAN lab under ``root`` with every tunnel pinging; always torn down."""
    require_lab()
    lab = Lab(root, prefix=f"{prefix}{os.getpid()}", scenario=config.Scenario(multiwan=True))
    try:
        lab.up()
        bring_up(lab)
        yield lab
    finally:
        lab.down()
