"""Run the fake Azure as a process (the lab's "Azure side"), until SIGTERM/SIGINT.

    .venv/bin/python -m tests.fakeazure --host 127.0.0.1 --port 8443 \\
        --info /run/s2s-lab/azure.json --on-change-cmd /path/reconfigure-azure-peer.sh

``--info`` gets a JSON file (mode 0600: it holds the client secret) with ``url``,
``ca_path``, ``tenant_id``, ``client_id``, ``client_secret``, ``client_cert_path``,
``subscription_id``, ``resource_group``, ``lng_name``, ``connection_name``, ``lng_id``,
``stats_url`` (``GET``: per-LNG PUT/write counters) and ``sites`` (each LNG's subscription,
resource group, names and service principal; two with ``--second-site``).
``--on-change-cmd`` runs (no shell) when a PUT changes the LNG's ``gatewayIpAddress``, with
``S2S_OLD_IP``, ``S2S_NEW_IP`` and ``S2S_LNG_NAME`` in its environment; a failure makes the
LRO end ``Failed``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import signal
import threading
from typing import Any

from s2s_agent.core.osio import run

from .seed import Names
from .server import FakeAzure
from .tenancy import SITE_B, STATS_PATH


def _hook(argv: list[str], timeout: float):
    def on_change(old: dict[str, Any], new: dict[str, Any]) -> None:
        env = dict(os.environ)
        env["S2S_OLD_IP"] = str(old["properties"].get("gatewayIpAddress", ""))
        env["S2S_NEW_IP"] = str(new["properties"].get("gatewayIpAddress", ""))
        env["S2S_LNG_NAME"] = str(new.get("name", ""))
        run(argv, timeout=timeout, env=env)  # raises CommandError -> LRO Failed

    return on_change


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tests.fakeazure", description=__doc__.split("\n")[0]
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--info", help="write connection details (JSON, 0600) here")
    p.add_argument("--on-change-cmd", help="command run when gatewayIpAddress changes")
    p.add_argument("--hook-timeout", type=float, default=60.0)
    p.add_argument("--retry-after", type=int, default=1)
    p.add_argument("--lro-delay", type=int, default=0, help="InProgress polls per LRO")
    p.add_argument(
        "--fail-puts",
        type=int,
        default=0,
        help="answer the first N PUTs of the LNG with 500 InternalServerError",
    )
    p.add_argument(
        "--second-site",
        action="store_true",
        help="also seed LNG lng-pfsense-b (+ connection) in a second subscription, with its "
        "own service principal (issue 10); listed under 'sites' in --info",
    )
    p.add_argument(
        "--fail-lng",
        action="append",
        default=[],
        metavar="NAME[:STATUS]",
        help="answer every PUT of this LNG with STATUS (default 500); repeatable",
    )
    p.add_argument("--gateway-ip", help="the LNG's initial gatewayIpAddress (the lab's WAN IP)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    hook = _hook(shlex.split(args.on_change_cmd), args.hook_timeout) if args.on_change_cmd else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    names = Names(gateway_ip=args.gateway_ip) if args.gateway_ip else None
    ip = {"gateway_ip": args.gateway_ip} if args.gateway_ip else {}
    with FakeAzure(
        host=args.host,
        port=args.port,
        on_lng_change=hook,
        retry_after=args.retry_after,
        names=names,
        sites=(Names(**SITE_B, **ip),) if args.second_site else (),
    ) as fake:
        fake.faults.lro_delay = args.lro_delay
        if args.fail_puts:
            fake.faults.add("PUT", r"/localNetworkGateways/", status=500, times=args.fail_puts)
        for spec in args.fail_lng:
            name, _, status = spec.partition(":")
            fake.fail_lng(name, status=int(status or 500))
        n = fake.names
        info = {
            "url": fake.url,
            "ca_path": fake.ca_path,
            "tenant_id": fake.tenant_id,
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "client_cert_path": fake.client_cert_path,
            "subscription_id": n.subscription_id,
            "resource_group": n.resource_group,
            "lng_name": n.lng_name,
            "connection_name": n.connection_name,
            "lng_id": fake.lng_id,
            "stats_url": fake.url + STATS_PATH,
            "sites": [
                {
                    "subscription_id": s.names.subscription_id,
                    "resource_group": s.names.resource_group,
                    "lng_name": s.names.lng_name,
                    "connection_name": s.names.connection_name,
                    "client_id": s.principal.client_id,
                    "client_secret": s.principal.client_secret,
                }
                for s in fake.tenancy.sites
            ],
        }
        if args.info:
            fd = os.open(args.info, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(info, fh, indent=1)
        print(json.dumps({"url": fake.url, "ca_path": fake.ca_path}), flush=True)
        stop.wait()
        if args.info:  # what the clients sent that the spec does not allow, for the test to fail on
            with open(args.info + ".violations", "w") as fh:
                json.dump(fake.violations, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
