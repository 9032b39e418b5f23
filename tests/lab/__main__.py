"""Manual control of the lab: ``python -m tests.lab up|down|status|initiate|ping|capture``.

Run from the project root as root. ``up`` leaves the lab running (state in ROOT/lab.json)
until ``down``; ``down`` also removes leftovers of a crashed run with the same prefix.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from .config import Scenario
from .lab import Lab, LabError

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "lab-run"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tests.lab", description="the s2s-agent strongSwan lab"
    )
    ap.add_argument(
        "command", choices=["up", "down", "status", "initiate", "ping", "capture", "azure-peer"]
    )
    ap.add_argument(
        "--ip",
        help="azure-peer: the onprem IP the Azure side expects "
        "(default: $S2S_NEW_IP, as the fake Azure's --on-change-cmd sets it)",
    )
    ap.add_argument(
        "--root", default=str(DEFAULT_ROOT), help="lab directory (default: %(default)s)"
    )
    ap.add_argument(
        "--lng", help="azure-peer: only this LNG's gateways (default: $S2S_LNG_NAME, else all)"
    )
    ap.add_argument("--prefix", default="s2s", help="namespace name prefix (default: %(default)s)")
    ap.add_argument("--mode", choices=["swanctl", "starter"], default="swanctl")
    ap.add_argument("--multi", action="store_true", help="add con2 (two children) and IKEv1 con3")
    ap.add_argument(
        "--multiwan",
        action="store_true",
        help="two WANs with failover, con1+con4 (active-active, one LNG) and con2 (second LNG)",
    )
    ap.add_argument("--child", default="con1", help="child to initiate (default: %(default)s)")
    ap.add_argument("--outdir", default=None, help="capture: output directory")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s"
    )
    root = Path(args.root)
    try:
        if args.command == "up":
            root.mkdir(parents=True, exist_ok=True)
            sc = Scenario(mode=args.mode, con2=args.multi, con3=args.multi, multiwan=args.multiwan)
            lab = Lab(root, prefix=args.prefix, scenario=sc, autoclean=False).up()
            print(json.dumps(lab.status(), indent=2))
            print(f"onprem shell: nsenter -t {lab.anchor_pid('onprem')} -n -m")
        elif args.command == "down":
            lab = (
                Lab.load(root)
                if (root / "lab.json").exists()
                else Lab(root, prefix=args.prefix, autoclean=False)
            )
            lab.down()
            print("lab down")
        elif args.command == "status":
            lab = Lab.load(root)
            print(json.dumps(lab.status(), indent=2))
            if lab.charon_pid("onprem"):
                print(lab.swanctl("onprem", "--list-sas").stdout)
        elif args.command == "initiate":
            print(Lab.load(root).initiate(args.child).stdout)
        elif args.command == "ping":
            res = Lab.load(root).ping(3)
            print(f"{res.received}/{res.sent} replies")
            return 0 if res else 1
        elif args.command == "azure-peer":
            ip = args.ip or os.environ.get("S2S_NEW_IP")
            if not ip:
                print("error: azure-peer needs --ip or S2S_NEW_IP", file=sys.stderr)
                return 2
            lng = args.lng or os.environ.get("S2S_LNG_NAME") or None
            import fcntl  # two LNG PUTs at once run two hooks: one read-modify-write at a time

            with open(os.path.join(root, "azure-peer.lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                Lab.load(root).reprogram_azure_peer(ip, lng=lng)
            print(f"azure side ({lng or 'every LNG'}) now expects onprem at {ip}")
        elif args.command == "capture":
            from .capture import main as capture_main

            return capture_main([args.outdir] if args.outdir else [])
    except (LabError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
