"""End to end with the agent (issue 10): several Azure tunnels on two LNGs in two
subscriptions, healed by the daemon after a WAN1 address change.

The multi-WAN lab (``Scenario(multiwan=True)``): con1 + active-active con4 on LNG
``lng-pfsense``, con2 on ``lng-pfsense-b`` in a second subscription with its own principal;
the fake Azure runs as a process (``FakeAzureProc(second_site=True)``) whose hook reprograms
only the written LNG's gateways. The agent's config is the tunnels form (azure_profiles +
per-tunnel azure/wan).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import yaml

from tests.helpers.multiwan import NEW_WAN1, PINGS, multiwan_lab, ping
from tests.lab import config
from tests.lab.agent import FakeAzureProc, LabAgent
from tests.lab.lab import Lab

pytestmark = pytest.mark.lab

LNG_A, LNG_B = config.LNG_A, config.LNG_B


@pytest.fixture
def mlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from multiwan_lab(tmp_path_factory.mktemp("magent"), "s2sa")


def multi_agent(lab: Lab, azure: FakeAzureProc, name: str) -> LabAgent:
    """A LabAgent whose config is rewritten into the tunnels form: two profiles (one per
    subscription's principal), three tunnels, each with its LNG and WAN source."""
    # a PUT that keeps failing (the SDK retries 5xx) must end well within the test's waits
    agent = LabAgent(lab, name, azure=azure, remediation={"azure_deadline": 20})
    cfg = yaml.safe_load(agent.config_path.read_text())
    single = cfg.pop("azure")
    info = azure.info
    site_b = next(s for s in info["sites"] if s["lng_name"] == LNG_B)
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
        "branch": {
            **common,
            "client_id": site_b["client_id"],
            "client_secret_file": str(secret_b),
        },
    }
    a = {
        "profile": "corp",
        "subscription_id": single["subscription_id"],
        "resource_group": single["resource_group"],
        "local_network_gateway": LNG_A,
        "connection": single["connection"],
    }
    b = {
        "profile": "branch",
        "subscription_id": site_b["subscription_id"],
        "resource_group": site_b["resource_group"],
        "local_network_gateway": LNG_B,
        "connection": site_b["connection_name"],
    }
    wan = {"source": "interface", "interface": "wan0"}
    cfg["tunnels"] = [
        {
            "name": ike,
            "ike": ike,
            "children": [ike],
            "probe": {"source": src, "target": dst, "count": 2, "timeout": 1},
            "wan": wan,
            "azure": b if ike == "con2" else a,
        }
        for ike, (src, dst) in PINGS.items()
    ]
    agent.config_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
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


def lngs_sub(agent: LabAgent, lng: str) -> str:
    return next(x["subscription_id"] for x in agent.status()["lngs"] if x["name"] == lng)


def run_agent(lab: Lab, name: str, **azure_opts):
    azure = FakeAzureProc(lab, second_site=True, **azure_opts)
    agent = multi_agent(lab, azure, name)
    agent.start()
    wait_all(
        agent,
        lambda t: t["health"] == "UP" and t.get("remediation", {}).get("wan_ip"),
        40,
        "every tunnel UP with a known WAN IP",
    )
    return azure, agent


def test_wan1_change_heals_both_lngs_and_every_tunnel_one_put_per_lng(mlab: Lab):
    azure, agent = run_agent(mlab, "agent-multi")
    try:
        st = tunnels(agent)
        assert st["con1"]["remediation"]["lng"] == st["con4"]["remediation"]["lng"] == LNG_A
        assert st["con2"]["remediation"]["lng"] == LNG_B
        assert st["con2"]["remediation"]["wan_source"] == "interface wan0"
        mlab.set_wan_ip(NEW_WAN1)
        st = wait_all(
            agent,
            lambda t: t["health"] == "UP" and t["remediation"]["applied_ip"] == NEW_WAN1,
            90,
            "every tunnel healed on the new WAN1 address",
        )
        lngs = azure.stats()["lngs"]
        # one PUT per LNG; con1 and con4 (active-active) share lng-pfsense's one PUT
        assert (lngs[LNG_A]["puts"], lngs[LNG_B]["puts"]) == (1, 1)
        assert lngs[LNG_A]["gatewayIpAddress"] == lngs[LNG_B]["gatewayIpAddress"] == NEW_WAN1
        assert all(ping(mlab, ike) for ike in PINGS)
        assert local_hosts(mlab) == dict.fromkeys(PINGS, NEW_WAN1)
        assert st["con4"]["tunnel_remediations"][0]["ok"] is True
        assert any("lng=lng-pfsense-b" in a and "event=remediated" in a for a in agent.alerts())
        # `status --json`: both LNGs, each with Azure's view = the new address (read by each
        # LNG's own worker and profile soon after its heal), and each tunnel's view of it
        doc: dict = {}

        def azure_sees_new() -> bool:
            nonlocal doc
            doc = agent.status()
            seen = {x["name"]: (x.get("azure") or {}).get("ip") for x in doc.get("lngs", [])}
            return seen == {LNG_A: NEW_WAN1, LNG_B: NEW_WAN1}

        try:
            mlab.wait_for(azure_sees_new, 30, what="Azure's view of both LNGs = the new address")
        except Exception as exc:
            raise AssertionError(f"{exc}: {doc.get('lngs')}") from None
        lngs = {x["name"]: x for x in doc["lngs"]}
        assert lngs[LNG_A]["tunnels"] == ["con1", "con4"] and lngs[LNG_B]["tunnels"] == ["con2"]
        assert lngs[LNG_A]["profile"] == "corp" and lngs[LNG_B]["profile"] == "branch"
        assert all(x["ip_matches_wan"] is True and x["azure_error"] is None for x in lngs.values())
        per = {t["name"]: t for t in doc["tunnels"]}
        assert {n: per[n]["azure"]["lng"]["ip"] for n in PINGS} == dict.fromkeys(PINGS, NEW_WAN1)
        assert per["con1"]["azure"]["name"] == per["con4"]["azure"]["name"]  # one connection
        check = agent.cli("check")
        assert check.returncode == 0 and check.stdout.startswith("S2S OK - con1 UP"), check.stdout
    finally:
        agent.stop()
        azure.stop()


def test_one_lngs_put_keeps_failing_the_other_lng_still_heals(mlab: Lab):
    azure, agent = run_agent(mlab, "agent-multi-fail", fail_lngs=(f"{LNG_B}:500",))
    try:
        mlab.set_wan_ip(NEW_WAN1)
        wait_all(
            agent,
            lambda t: (
                t["remediation"]["applied_ip"] == NEW_WAN1
                if t["name"] != "con2"
                else bool(t["remediations"]) and t["remediations"][0]["ok"] is False
            ),
            90,
            "con1 + con4 healed, con2's LNG failed",
        )
        st = tunnels(agent)
        assert st["con1"]["health"] == st["con4"]["health"] == "UP"
        assert ping(mlab, "con1") and ping(mlab, "con4")
        assert st["con2"]["remediation"]["applied_ip"] != NEW_WAN1
        seen: list[str] = []

        def failed_alert() -> bool:
            seen.extend(agent.alerts())
            return any("lng=lng-pfsense-b" in a and "remediation_failed" in a for a in seen)

        try:
            mlab.wait_for(failed_alert, 15, what="the failing LNG's alert")
        except Exception as exc:
            raise AssertionError(f"{exc}: {seen}") from None
        lngs = azure.stats()["lngs"]
        assert lngs[LNG_A]["writes"] == 1 and lngs[LNG_B]["writes"] == 0
        # the failing LNG backs off on its own history (no new attempt at every cycle)
        st = wait_all(
            agent,
            lambda t: (
                t["name"] != "con2"
                or "backing off" in ((t["remediation"]["plan"] or {}).get("blocked") or "")
            ),
            30,
            "con2's LNG backing off",
        )
        assert st["con2"]["remediation"]["plan"]["wait_until"]
        # check names the failing tunnel and LNG; metrics say which LNG failed; its repeated
        # failures are one alert (no storm), while the other LNG heals
        check = agent.cli("check")
        assert check.returncode == 2 and check.stdout.startswith("S2S CRITICAL - con2 "), check
        assert "LNG lng-pfsense-b remediation failed" in check.stdout
        metrics = agent.cli("metrics").stdout
        lab_b = f'lng="{LNG_B}",subscription="{lngs_sub(agent, LNG_B)}"'
        assert f"s2s_lng_last_remediation_success{{{lab_b}," in metrics
        assert f"s2s_lng_last_remediation_success{{{lab_b},resource_group=" in metrics
        wait_all(
            agent,
            lambda t: (
                t["name"] != "con2" or [r["ok"] for r in t["remediations"][:2]] == [False, False]
            ),
            90,
            "a second (backed-off) attempt on con2's LNG, failed too",
        )
        alerts = agent.alerts()  # every line received so far
        failed = [a for a in alerts if "lng=lng-pfsense-b" in a and "event=remediation_failed" in a]
        assert len(failed) == 1, "\n".join(failed)
    finally:
        agent.stop()
        azure.stop()
