"""End to end on real strongSwan: the agent daemon in the onprem namespace watches con1."""

from __future__ import annotations

import pytest

from tests.conftest import ensure_tunnel
from tests.lab.agent import LabAgent

pytestmark = pytest.mark.lab


@pytest.fixture
def agent(tunnel):
    a = LabAgent(tunnel).start()
    yield a
    assert a.stop() == 0, a.stderr_tail()


def down_alerts(msgs):
    return [m for m in msgs if "health=DOWN" in m and "event=transition" in m]


def test_up_with_traffic_then_peer_death_then_recovery(agent, tunnel):
    lab = tunnel
    assert lab.ping(3)
    t = agent.wait_tunnel(
        lambda t: (
            t["health"] == "UP"
            and (t["bytes_in"] or 0) > 0
            and t["probe"]
            and t["probe"]["received"] > 0
        ),
        20,
        "UP with traffic",
    )
    assert t["ike_state"] == "ESTABLISHED" and t["child_states"] == {"con1": "INSTALLED"}
    assert t["local_host"] == lab.wan_ip and t["remote_id"] == "203.0.113.1"
    assert t["bytes_out"] > 0 and t["probe"]["loss"] == 0.0
    assert agent.status()["agent"]["sa_source"] == "vici"
    assert agent.alerts() == []  # a healthy start is silent

    # the Azure side dies: DPD, retransmits, give-up -> DOWN with dpd_giveup
    lab.kill_charon("azure")
    t = agent.wait_tunnel(
        lambda t: t["health"] == "DOWN" and "dpd_giveup" in t["reasons"],
        120,
        "DOWN with dpd_giveup",
    )
    kinds = {e["kind"] for e in t["events"]}
    assert {"dpd_request", "retransmit", "retransmit_giveup"} <= kinds
    msgs = agent.alerts()
    assert len(down_alerts(msgs)) == 1, msgs
    assert "tunnel=azure-hq ike=con1 health=DOWN previous=" in down_alerts(msgs)[0]
    assert agent.cli("check").returncode == 2

    # the peer comes back and the tunnel is re-initiated -> UP, one recovery line
    ensure_tunnel(lab)
    agent.wait_tunnel(lambda t: t["health"] == "UP", 30, "UP again")
    msgs = agent.alerts()
    assert len(down_alerts(msgs)) == 1, msgs
    assert sum("health=UP previous=DOWN" in m for m in msgs) == 1, msgs
    assert agent.cli("check").returncode == 0


@pytest.mark.parametrize("source", ["swanctl", "statusall"])
def test_other_sa_sources_see_the_same_tunnel(tunnel, source):
    a = LabAgent(tunnel, f"agent-{source}", source=source, probe=False, log="charon").start()
    try:
        t = a.wait_tunnel(lambda t: t["health"] == "UP", 15, f"UP via {source}")
        assert a.status()["agent"]["sa_source"] == source
        assert t["remote_host"] == "203.0.113.1" and t["child_states"] == {"con1": "INSTALLED"}
    finally:
        assert a.stop() == 0


def test_charon_not_running_is_unknown_with_cause(tunnel):
    lab = tunnel
    a = LabAgent(lab, "agent-nocharon", probe=False).start()
    try:
        a.wait_tunnel(lambda t: t["health"] == "UP", 15, "UP first")
        lab.kill_charon("onprem")
        t = a.wait_tunnel(lambda t: t["health"] == "UNKNOWN", 15, "UNKNOWN without charon")
        assert t["reasons"] == ["sa_source_error"]
        assert "charon" in (t["error"] or "")
        assert a.proc.poll() is None  # the daemon keeps running
        assert any("health=UNKNOWN" in m for m in a.alerts())
    finally:
        a.stop()
