"""End to end (issue 10): SIGHUP while the agent heals a WAN1 change, from several Azure
tunnels to one and from one to several.

The multi-WAN lab: con1 + active-active con4 on LNG ``lng-pfsense``, con2 on
``lng-pfsense-b`` in a second subscription. The fake Azure answers every LNG PUT with a few
``InProgress`` polls, so the reload lands while the heal runs. What must hold: the running
heal finishes (one PUT per LNG, never a second one), the new loop adopts it (records, the
LNG's address and write count) and then heals with the new config.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from tests.helpers.multiagent import rewrite_as_tunnels
from tests.helpers.multiwan import NEW_WAN1, PINGS, multiwan_lab, ping
from tests.lab import config
from tests.lab.agent import FakeAzureProc, LabAgent
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

LNG_A, LNG_B = config.LNG_A, config.LNG_B


@pytest.fixture
def mlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from multiwan_lab(tmp_path_factory.mktemp("mreload"), "s2sr")


def by_name(agent: LabAgent) -> dict[str, dict]:
    return {t["name"]: t for t in agent.status()["tunnels"]}


def wait(agent: LabAgent, pred, timeout: float, what: str) -> dict[str, dict]:
    last: dict = {}

    def check():
        nonlocal last
        try:
            last = by_name(agent)
            return last if pred(last) else None
        except (KeyError, TypeError, IndexError):  # a tunnel or field not there (yet)
            return None
        except Exception:  # the control socket while the agent is busy
            return None

    try:
        return agent.lab.wait_for(check, timeout, what=what)
    except Exception as exc:
        brief = {
            n: (t.get("health"), t.get("remediation"), (t.get("remediations") or [])[:2])
            for n, t in last.items()
        }
        raise AssertionError(f"{what}: {brief}; agent stderr: {agent.stderr_tail(40)}") from exc


def start(lab: Lab, name: str, tunnels: tuple[str, ...]):
    azure = FakeAzureProc(lab, second_site=True, lro_delay=4)
    agent = LabAgent(lab, name, azure=azure, remediation={"azure_deadline": 40})
    rewrite_as_tunnels(agent, azure, tunnels)
    agent.start()
    wait(
        agent,
        lambda st: all(
            n in st and st[n]["health"] == "UP" and st[n]["remediation"]["wan_ip"] for n in tunnels
        ),
        40,
        "every tunnel UP with a known WAN IP",
    )
    return azure, agent


def puts_sent(lab: Lab, azure, want: dict[str, int]) -> None:
    """Wait until the fake Azure answered these LNGs' PUTs (their LROs may still run)."""
    lab.wait_for(
        lambda: all(azure.stats()["lngs"][n]["puts"] >= k for n, k in want.items()),
        20,
        what=f"PUTs sent: {want}",
    )


def hup(agent: LabAgent) -> None:
    os.kill(agent._agent_pid(), signal.SIGHUP)


def test_reload_to_one_tunnel_while_the_multi_heal_runs(mlab: Lab):
    azure, agent = start(mlab, "agent-reload-1", tuple(PINGS))
    try:
        mlab.set_wan_ip(NEW_WAN1)
        wait(agent, lambda st: st["con1"]["remediation"]["running"], 20, "the heal running")
        # both PUTs sent (their long-running operations take 4 s more): a worker that had not
        # read the config yet would find con2 gone and rightly refuse to write its LNG
        puts_sent(mlab, azure, {LNG_A: 1, LNG_B: 1})
        rewrite_as_tunnels(agent, azure, ("con1",))
        hup(agent)
        st = wait(
            agent,
            lambda st: (
                set(st) == {"con1"}
                and st["con1"]["health"] == "UP"
                and st["con1"]["remediation"]["applied_ip"] == NEW_WAN1
                and not st["con1"]["remediation"]["running"]
            ),
            90,
            "the single loop adopted the finished heal",
        )
        lngs = azure.stats()["lngs"]
        assert (lngs[LNG_A]["puts"], lngs[LNG_B]["puts"]) == (1, 1)  # the heal finished
        assert ping(mlab, "con1") and ping(mlab, "con2")  # con2 was healed before its removal
        rec = st["con1"]["remediations"][0]
        assert rec["ok"] is True and "WAN IP changed" in rec["trigger"]
        assert st["con1"]["remediation"]["azure_writes_last_hour"] == 1
        assert "configuration reloaded" in agent.stderr_tail(200)
    finally:
        agent.stop()
        azure.stop()


def test_reload_to_several_tunnels_while_the_single_heal_runs(mlab: Lab):
    azure, agent = start(mlab, "agent-reload-2", ("con1",))
    try:
        mlab.set_wan_ip(NEW_WAN1)
        wait(agent, lambda st: st["con1"]["remediation"]["running"], 20, "the heal running")
        puts_sent(mlab, azure, {LNG_A: 1})
        rewrite_as_tunnels(agent, azure, tuple(PINGS))
        hup(agent)
        st = wait(
            agent,
            lambda st: (
                set(PINGS) <= set(st)
                and all(
                    st[n]["health"] == "UP" and st[n]["remediation"]["applied_ip"] == NEW_WAN1
                    for n in PINGS
                )
            ),
            120,
            "every tunnel healed by the single heal and then the multi loop",
        )
        lngs = azure.stats()["lngs"]
        assert (lngs[LNG_A]["puts"], lngs[LNG_B]["puts"]) == (1, 1)
        assert all(ping(mlab, n) for n in PINGS)
        assert st["con1"]["remediation"]["azure_writes_last_hour"] == 1  # adopted
        assert any(r["ok"] for r in st["con1"]["remediations"])
    finally:
        agent.stop()
        azure.stop()
