"""``make demo``: the agent heals a real strongSwan tunnel after a WAN IP change.

Builds the two-peer lab (real charons in the "onprem" and "azure" namespaces) and the fake
Azure (HTTPS; an LNG update reprograms the Azure-side charon), brings the tunnel up, starts
s2s-agent inside the onprem namespace (where pfSense runs it) and shows ``status``; then
changes the WAN IP and shows the agent heal the tunnel (Azure LNG, local identifier,
restart, verified ping) with status before/after; then kills the Azure-side charon, shows
the tunnel DOWN with the reason and the syslog alert, and the agent bring it back once the
peer returns. Everything is torn down at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from tests.conftest import lab_unavailable_reason

from .agent import FakeAzureProc, LabAgent
from .lab import Lab, LabError

ROOT = Path(__file__).resolve().parents[2] / "lab-run" / "demo"


def say(text: str) -> None:
    print(f"\n\033[1m==> {text}\033[0m", flush=True)


def show_status(agent: LabAgent) -> None:
    r = agent.cli("status")
    print(r.stdout.rstrip() or r.stderr.rstrip(), flush=True)


def show_alerts(agent: LabAgent, seen: int) -> int:
    msgs = agent.alerts()
    for m in msgs[seen:]:
        print(f"  syslog: {m}", flush=True)
    return len(msgs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="make demo")
    ap.add_argument("--root", default=str(ROOT))
    ap.add_argument("--prefix", default="s2sdemo")
    args = ap.parse_args(argv)
    reason = lab_unavailable_reason()
    if reason:
        print(f"demo: {reason}", file=sys.stderr)
        return 2

    def on_term(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    Path(args.root).mkdir(parents=True, exist_ok=True)
    lab = Lab(args.root, prefix=args.prefix)
    agent = azure = None
    try:
        say("building the lab: onprem (pfSense role) and azure (VPN gateway role), real charons")
        lab.up()
        lab.initiate("con1")
        lab.wait_for(lambda: lab.ping(1), 15, what="the first in-tunnel ping")
        print(
            f"  tunnel con1 up: {lab.wan_ip} <=> 203.0.113.1, ping 192.168.1.1 -> 10.1.10.1 works"
        )
        say(
            "starting the fake Azure (Entra ID + ARM over HTTPS; an LNG update reprograms the "
            "Azure-side charon, as Azure does)"
        )
        azure = FakeAzureProc(lab)
        print(
            f"  Local Network Gateway {azure.info['lng_name']}: gatewayIpAddress {azure.lng_ip()}"
        )

        say("starting s2s-agent in the onprem namespace (VICI, charon log, probe, remediation on)")
        agent = LabAgent(
            lab,
            "demo-agent",
            interval=2,
            azure=azure,
            remediation={"backoff_base": 5, "backoff_cap": 20},
        ).start()
        lab.ping(3)
        agent.wait_tunnel(
            lambda t: (
                t["health"] == "UP"
                and (t["bytes_in"] or 0) > 0
                and (t["probe"] or {}).get("received")
            ),
            30,
            "UP with a probe reply",
        )
        say("s2s-agent status")
        show_status(agent)

        new_ip = "192.0.2.77"
        say(f"the ISP changes the WAN address: {lab.wan_ip} -> {new_ip} (the tunnel breaks)")
        t0 = time.monotonic()
        lab.set_wan_ip(new_ip)
        t = agent.wait_tunnel(
            lambda t: (t["remediations"] or [{}])[0].get("ok") and t["health"] == "UP", 60, "healed"
        )
        took = time.monotonic() - t0
        rec = t["remediations"][0]
        for st in rec["steps"]:
            print(
                f"  {st['kind']:15s} {'ok' if st['ok'] else 'FAILED':6s} {st['seconds']:6.2f}s  {st['detail']}"
            )
        print(f"  healed without a person in {took:.1f}s (Azure's own FQDN answer: 5+ minutes)")
        print(
            f"  Azure LNG gatewayIpAddress is now {azure.lng_ip()}; in-tunnel ping: "
            f"{'works' if lab.ping(2) else 'FAILS'}"
        )
        say("s2s-agent status")
        show_status(agent)
        seen = show_alerts(agent, 0)

        say("killing the Azure-side charon (the peer dies); waiting for DPD to give up")
        t0 = time.monotonic()
        lab.kill_charon("azure")
        agent.wait_tunnel(lambda t: t["health"] == "DOWN", 60, "DOWN")
        print(f"  DOWN after {time.monotonic() - t0:.1f}s (the probe saw no reply)")
        agent.wait_tunnel(lambda t: "dpd_giveup" in t["reasons"], 120, "dpd_giveup")
        print(f"  charon gave up on the peer after {time.monotonic() - t0:.1f}s")
        say("s2s-agent status")
        show_status(agent)
        seen = show_alerts(agent, seen)
        print(f"  s2s-agent check: {agent.cli('check').stdout.strip()}")

        say(
            "the Azure side comes back; the agent's repair ladder re-initiates the tunnel by itself"
        )
        lab.start_charon("azure")
        agent.wait_tunnel(
            lambda t: t["health"] == "UP" and (t["probe"] or {}).get("received"),
            120,
            "UP again with a probe reply",
        )
        say("s2s-agent status")
        show_status(agent)
        show_alerts(agent, seen)
        print(f"  s2s-agent check: {agent.cli('check').stdout.strip()}")
        say("demo finished; tearing the lab down")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    except (AssertionError, LabError) as exc:  # the heal (or the lab) failed: say why, exit 1
        print(f"\ndemo FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if agent is not None:
            agent.stop()
        if azure is not None:
            azure.stop()
        lab.down()


if __name__ == "__main__":
    sys.exit(main())
