"""A client of the fake Azure process, run inside a lab namespace (where the fake listens).

    python -m tests.lab.azclient --info F stats                # per-LNG PUT/write counters
    python -m tests.lab.azclient --info F put LNG IP           # what the agent does (SDK)

``put`` uses the real SDK the way the agent does (GET, set ``gatewayIpAddress``, PUT with
``If-Match``, wait for the long-running operation), authenticated as the service principal
that owns that LNG's subscription (``sites`` in the ``--info`` file); prints the final
``provisioningState``. Exit status 1 (message on stderr) when Azure refuses.
"""

from __future__ import annotations

import argparse
import json
import ssl
import sys
import urllib.request


def _site(info: dict, lng: str) -> dict:
    for site in info.get("sites", []):
        if site["lng_name"].lower() == lng.lower():
            return site
    raise SystemExit(f"error: the fake has no LNG {lng!r} (see 'sites' in the --info file)")


def put(info: dict, lng: str, ip: str) -> str:
    from azure.identity import ClientSecretCredential
    from azure.mgmt.network import NetworkManagementClient

    site = _site(info, lng)
    cred = ClientSecretCredential(
        info["tenant_id"],
        site["client_id"],
        site["client_secret"],
        authority=info["url"],
        disable_instance_discovery=True,
        connection_verify=info["ca_path"],
    )
    client = NetworkManagementClient(
        cred,
        site["subscription_id"],
        base_url=info["url"],
        connection_verify=info["ca_path"],
        retry_total=0,
    )
    ops = client.local_network_gateways
    res = ops.get(site["resource_group"], site["lng_name"])
    res.gateway_ip_address = ip
    poller = ops.begin_create_or_update(
        site["resource_group"], site["lng_name"], res, headers={"If-Match": res.etag}
    )
    state = poller.result(timeout=60).provisioning_state
    return getattr(state, "value", state)  # an enum in recent SDKs


def stats(info: dict) -> dict:
    ctx = ssl.create_default_context(cafile=info["ca_path"])
    with urllib.request.urlopen(info["stats_url"], context=ctx, timeout=10) as r:
        return json.load(r)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.lab.azclient")
    p.add_argument("--info", required=True, help="the fake Azure's --info JSON file")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("stats")
    put_p = sub.add_parser("put")
    put_p.add_argument("lng")
    put_p.add_argument("ip")
    args = p.parse_args(argv)
    with open(args.info) as f:
        info = json.load(f)
    if args.command == "stats":
        print(json.dumps(stats(info)))
        return 0
    from azure.core.exceptions import HttpResponseError

    try:
        print(put(info, args.lng, args.ip))
    except HttpResponseError as exc:
        code = getattr(exc.error, "code", None) or exc.reason
        print(f"error: HTTP {exc.status_code} {code}", file=sys.stderr)  # one line
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
