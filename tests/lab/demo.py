"""``make demo``: the agent watching a real strongSwan tunnel, through a peer failure.

Builds the two-peer lab (real charons in the "onprem" and "azure" namespaces), brings the
tunnel up, starts s2s-agent inside the onprem namespace (where pfSense runs it), shows
``s2s-agent status``, kills the Azure-side charon and shows the agent report the tunnel
DOWN with the reason and the syslog alert, then restores the peer and shows it UP again.
Everything is torn down at the end, also on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

from tests.conftest import ensure_tunnel, lab_unavailable_reason

from .agent import LabAgent
from .lab import Lab

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
    agent = None
    try:
        say("building the lab: onprem (pfSense role) and azure (VPN gateway role), real charons")
        lab.up()
        lab.initiate("con1")
        lab.wait_for(lambda: lab.ping(1), 15, what="the first in-tunnel ping")
        print(f"  tunnel con1 up: {lab.wan_ip} <=> 203.0.113.1, ping 192.168.1.1 -> 10.1.10.1 works")

        say("starting s2s-agent in the onprem namespace (VICI, charon log, in-tunnel probe)")
        agent = LabAgent(lab, "demo-agent", interval=2).start()
        lab.ping(3)
        agent.wait_tunnel(lambda t: t["health"] == "UP" and (t["bytes_in"] or 0) > 0
                          and (t["probe"] or {}).get("received"), 30, "UP with a probe reply")
        say("s2s-agent status")
        show_status(agent)

        say("killing the Azure-side charon (the peer dies); waiting for DPD to give up")
        t0 = time.monotonic()
        lab.kill_charon("azure")
        agent.wait_tunnel(lambda t: t["health"] == "DOWN", 60, "DOWN")
        print(f"  DOWN after {time.monotonic() - t0:.1f}s (the probe saw no reply)")
        agent.wait_tunnel(lambda t: "dpd_giveup" in t["reasons"], 120, "dpd_giveup")
        print(f"  charon gave up on the peer after {time.monotonic() - t0:.1f}s")
        say("s2s-agent status")
        show_status(agent)
        seen = show_alerts(agent, 0)
        print(f"  s2s-agent check: {agent.cli('check').stdout.strip()}")

        say("restoring the Azure side and re-initiating the tunnel")
        ensure_tunnel(lab)
        agent.wait_tunnel(lambda t: t["health"] == "UP" and (t["probe"] or {}).get("received"),
                          60, "UP again with a probe reply")
        say("s2s-agent status")
        show_status(agent)
        show_alerts(agent, seen)
        print(f"  s2s-agent check: {agent.cli('check').stdout.strip()}")
        say("demo finished; tearing the lab down")
        return 0
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        if agent is not None:
            agent.stop()
        lab.down()


if __name__ == "__main__":
    sys.exit(main())
