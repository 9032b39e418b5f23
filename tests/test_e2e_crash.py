"""Crash anywhere in a heal, then restart: the agent converges, with no second Azure write
and no stale identifier loaded in charon.

Real charons in the lab, the fake Azure, the real agent. The agent is started with
``S2S_TEST_CRASH_AT`` naming a step boundary (:mod:`s2s_agent.act.crashpoint`): it SIGKILLs
itself there during the WAN-change heal. The restarted agent (without the variable) must
finish the heal: the tunnel UP on the new IP, charon's *loaded* local id the new IP, the LNG
the new IP, and exactly one LNG PUT in total.
"""

from __future__ import annotations

import contextlib
import re
import time

import pytest

from tests.conftest import ensure_tunnel
from tests.lab.agent import FakeAzureProc, LabAgent
from tests.lab.netns import wait_for

pytestmark = pytest.mark.lab

NEW_IP = "192.0.2.77"
POINTS = [
    "after:update_lng",  # the LNG has the new IP, nothing local yet
    "conf-written",  # swanctl.conf has the new id, charon not reloaded
    "after:apply_local_id",  # reloaded, the old IKE SA still up
    "after:restart_ike",  # the tunnel is up on the new IP, not verified, not recorded
    "after:verify",  # healed, but the agent's memory does not say so
]


class CountingAzure(FakeAzureProc):
    """The fake Azure with its request log on (``-v``), to count LNG PUTs."""

    def __init__(self, lab, **kwargs):
        self.log_path = lab.root / "fakeazure.log"
        self.offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        real = lab.popen

        def popen(side, argv, **kw):
            argv = [*argv, "-v"] if "tests.fakeazure" in argv else argv
            return real(side, argv, **kw)

        lab.popen = popen
        try:
            super().__init__(lab, **kwargs)
        finally:
            del lab.popen

    def lng_puts(self) -> int:
        with open(self.log_path, "rb") as fh:
            fh.seek(self.offset)
            text = fh.read().decode("utf-8", "replace")
        return len(re.findall(r'"PUT [^"]*/localNetworkGateways/', text))


@contextlib.contextmanager
def crashing_agent(lab, name):
    original = lab.wan_ip
    azure = CountingAzure(lab)
    agent = None
    try:
        agent = LabAgent(lab, name, azure=azure, interval=1)
        yield azure, agent
    finally:
        if agent is not None:
            agent.stop()
        azure.stop()
        lab.set_wan_ip(original)
        lab.reprogram_azure_peer(original)
        lab.reconfigure_onprem(original)
        ensure_tunnel(lab)


def loaded_local_ids(lab) -> list[str]:
    out = lab.swanctl("onprem", "--list-conns").stdout
    return re.findall(r"local [^\n]*authentication:\s*\n\s+id: (\S+)", out)


@pytest.mark.parametrize("point", POINTS)
def test_crash_at_each_step_boundary_converges(tunnel, monkeypatch, point):
    lab = tunnel
    old = lab.wan_ip
    with crashing_agent(lab, f"agent-crash-{point.replace(':', '-')}") as (azure, agent):
        monkeypatch.setenv("S2S_TEST_CRASH_AT", point)
        agent.start()
        agent.wait_tunnel(
            lambda t: t["health"] == "UP" and t.get("remediation", {}).get("wan_ip"),
            30,
            "UP with a known WAN IP",
        )
        lab.set_wan_ip(NEW_IP)
        wait_for(lambda: agent.proc.poll() is not None, 60, what=f"the agent to crash at {point}")
        assert agent.proc.returncode == -9, agent.stderr_tail()
        agent._stderr.close()
        monkeypatch.delenv("S2S_TEST_CRASH_AT")
        agent.start()
        agent.wait_tunnel(
            lambda t: (
                t["health"] == "UP"
                and t["local_id"] == NEW_IP
                and t["remediation"]["applied_ip"] == NEW_IP
            ),
            90,
            "converged",
        )
        assert NEW_IP in loaded_local_ids(lab) and old not in loaded_local_ids(lab)
        assert azure.lng_ip() == NEW_IP and lab.ping(2)
        time.sleep(2)  # a second heal would start within a cycle: give it the chance
        assert azure.lng_puts() == 1, f"LNG PUTs: {azure.lng_puts()}"
        assert agent.tunnel()["remediation"]["plan"]["steps"] == []
