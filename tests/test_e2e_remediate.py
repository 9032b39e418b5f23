"""End to end: the WAN IP changes and the agent heals the tunnel by itself.

Real charons in the lab, the fake Azure (HTTPS, real azure-identity + azure-mgmt-network
in the agent's worker process) in the onprem namespace playing the VPN gateway: the LNG
update reprograms the Azure-side charon, exactly as Azure does.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trustme

from tests.conftest import ensure_tunnel
from tests.lab.agent import FakeAzureProc, LabAgent

pytestmark = pytest.mark.lab

NEW_IP = "192.0.2.77"


@contextlib.contextmanager
def healing(lab, name: str, *, azure_opts: dict | None = None, **agent_opts):
    """The fake Azure + a remediating agent; afterwards the lab is put back as it was."""
    original = lab.wan_ip
    azure = FakeAzureProc(lab, **(azure_opts or {}))
    agent = None
    try:
        agent = LabAgent(
            lab, name, azure=azure, interval=agent_opts.pop("interval", 2), **agent_opts
        )
        agent.start()
        agent.wait_tunnel(
            lambda t: t["health"] == "UP" and t.get("remediation", {}).get("wan_ip"),
            30,
            "UP with a known WAN IP",
        )
        yield azure, agent
    finally:
        if agent is not None:
            agent.stop()
        azure.stop()
        lab.set_wan_ip(original)
        lab.reprogram_azure_peer(original)
        lab.reconfigure_onprem(original)
        ensure_tunnel(lab)


@pytest.fixture
def healing_lab(tunnel):
    with healing(tunnel, "agent-heal") as (azure, agent):
        yield tunnel, azure, agent


def test_wan_ip_change_is_healed(healing_lab):
    lab, azure, agent = healing_lab
    t = agent.tunnel()
    assert t["remediation"]["wan_ip"] == lab.wan_ip and t["remediation"]["role"] == "standalone"
    assert azure.lng_ip() == lab.wan_ip

    t0 = time.monotonic()
    lab.set_wan_ip(NEW_IP)  # the ISP hands out a new address
    t = agent.wait_tunnel(
        lambda t: (
            t["remediations"]
            and t["remediations"][0]["ok"]
            and t["health"] == "UP"
            and t["local_id"] == NEW_IP
        ),
        60,
        "healed",
    )
    took = time.monotonic() - t0
    rec = t["remediations"][0]
    assert [s["kind"] for s in rec["steps"]] == [
        "update_lng",
        "apply_local_id",
        "restart_ike",
        "verify",
    ]
    assert "198.51.100.2 -> 192.0.2.77" in rec["trigger"]
    assert azure.lng_ip() == NEW_IP
    assert lab.ping(2)
    assert (
        t["remediation"]["applied_ip"] == NEW_IP and t["remediation"]["azure_writes_last_hour"] == 1
    )
    conf = (lab.root / "onprem" / "etc" / "swanctl" / "swanctl.conf").read_text()
    assert f"id = {NEW_IP}" in conf
    msgs = agent.alerts()
    assert any("event=remediated" in m for m in msgs), msgs
    print(
        f"WAN change -> healed and verified in {took:.2f}s; steps: "
        + ", ".join(f"{s['kind']} {s['seconds']}s" for s in rec["steps"])
    )

    # nothing more to do: no second write, the plan is empty
    plan = agent.cli("remediate", "--dry-run", "--json")
    assert plan.returncode == 0, plan.stderr
    assert '"steps": []' in plan.stdout


def test_local_apply_failure_rolls_back_and_alerts(tunnel):
    """charon refuses the rewritten config: the file is restored, the old config reloaded.

    The refusal is injected by a wrapper around the real swanctl that fails `--load-all` while
    the file holds the new IP (charon itself accepts it); everything else is real.
    """
    lab = tunnel
    original = lab.wan_ip
    wrapper = lab.root / "swanctl-refusing"
    wrapper.write_text(
        "#!/bin/sh\n"
        'case " $* " in *" --load-all "*)\n'
        f"  if grep -q '{NEW_IP}' /etc/swanctl/swanctl.conf; then\n"
        "    echo \"loading connection 'con1' failed: refused by the test\"; exit 1; fi;;\n"
        "esac\n"
        'exec swanctl "$@"\n'
    )
    wrapper.chmod(0o755)
    conf_path = lab.root / "onprem" / "etc" / "swanctl" / "swanctl.conf"
    before = conf_path.read_bytes()
    with healing(lab, "agent-rollback", swanctl=str(wrapper)) as (_azure, agent):
        lab.set_wan_ip(NEW_IP)
        t = agent.wait_tunnel(
            lambda t: t["remediations"] and t["remediations"][0]["ok"] is False,
            60,
            "a failed remediation",
        )
        steps = t["remediations"][-1]["steps"]  # the first attempt (newest come first)
        assert [s["kind"] for s in steps] == ["update_lng", "apply_local_id"]
        assert "rolled back" in steps[1]["detail"] and "refused by the test" in steps[1]["detail"]
        assert conf_path.read_bytes() == before  # the previous file is back, byte for byte
        assert (
            lab.swanctl("onprem", "--list-conns").stdout.count(original) >= 1
        )  # old config loaded
        assert any("event=remediation_failed step=apply_local_id" in m for m in agent.alerts())


def test_azure_failing_for_a_while_then_recovering(tunnel):
    """Azure answers 500 to the first PUTs: retries, a failed attempt with an alert, backoff,
    then the heal once Azure answers again."""
    lab = tunnel
    with healing(
        lab,
        "agent-5xx",
        azure_opts={"fail_puts": 6},
        remediation={"azure_deadline": 6, "backoff_base": 3},
    ) as (azure, agent):
        lab.set_wan_ip(NEW_IP)
        t = agent.wait_tunnel(
            lambda t: t["remediations"] and t["remediations"][0]["ok"] and t["health"] == "UP",
            90,
            "healed after Azure recovered",
        )
        recs = list(reversed(t["remediations"]))  # oldest first
        assert recs[0]["ok"] is False and recs[0]["steps"][0]["kind"] == "update_lng"
        assert (
            "500" in recs[0]["steps"][0]["detail"]
            or "InternalServerError" in recs[0]["steps"][0]["detail"]
        )
        assert recs[-1]["ok"] and [s["kind"] for s in recs[-1]["steps"]][0] == "update_lng"
        assert azure.lng_ip() == NEW_IP and lab.ping(2)
        assert any("event=remediation_failed step=update_lng" in m for m in agent.alerts())


def test_crash_mid_remediation_converges_after_restart(tunnel):
    """SIGKILL while the LNG update's long-running operation is in progress; the restarted
    agent re-reads the world (WAN IP, Azure, its saved state) and finishes the heal."""
    lab = tunnel
    with healing(lab, "agent-crash", azure_opts={"lro_delay": 4}, interval=1) as (azure, agent):
        lab.set_wan_ip(NEW_IP)
        agent.wait_tunnel(
            lambda t: t.get("remediation", {}).get("running"), 20, "a running remediation"
        )
        time.sleep(1.5)  # the PUT is in, the LRO still InProgress
        agent.crash()
        state = (agent.dir / "state" / "state.json").read_text()
        assert (
            '"applied_ip": "198.51.100.2"' in state
        )  # nothing claims success that was not verified
        agent.start()
        t = agent.wait_tunnel(
            lambda t: (
                t["remediations"]
                and t["remediations"][0]["ok"]
                and t["health"] == "UP"
                and t["local_id"] == NEW_IP
            ),
            60,
            "converged",
        )
        assert t["remediation"]["applied_ip"] == NEW_IP
        assert azure.lng_ip() == NEW_IP and lab.ping(2)


def test_behind_nat_http_source_heals(tunnel, tmp_path):
    """wan.source http: three HTTPS echo endpoints on the lab's "internet" (the azure side)
    report the address they see; one of them lies. The quorum of the honest two moves the LNG."""
    lab = tunnel
    original = lab.wan_ip
    ca = trustme.CA()
    cert = ca.issue_cert("203.0.113.1")
    ca_path, cert_path, key_path = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    cert.cert_chain_pems[0].write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    echoes = [
        lab.popen(
            "azure",
            [
                sys.executable,
                "-m",
                "tests.lab.echo",
                "--bind",
                "203.0.113.1",
                "--port",
                str(port),
                "--cert-pem",
                str(cert_path),
                "--key-pem",
                str(key_path),
                *extra,
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port, extra in ((8443, []), (8444, []), (8445, ["--lie", "8.8.8.8"]))
    ]
    urls = [f"https://203.0.113.1:{p}/" for p in (8443, 8444, 8445)]
    wan = {
        "source": "http",
        "interface": None,
        "http_endpoints": urls,
        "quorum": 2,
        "ca_bundle": str(ca_path),
        "poll_interval": 1,
    }
    try:
        with healing(lab, "agent-http", wan=wan) as (azure, agent):
            # the liar (8.8.8.8) was outvoted
            assert agent.tunnel()["remediation"]["wan_ip"] == original
            lab.set_wan_ip(NEW_IP)
            agent.wait_tunnel(
                lambda t: (
                    t["remediations"]
                    and t["remediations"][0]["ok"]
                    and t["health"] == "UP"
                    and t["local_id"] == NEW_IP
                ),
                60,
                "healed via the http source",
            )
            assert azure.lng_ip() == NEW_IP and lab.ping(2)
    finally:
        for e in echoes:
            e.terminate()
