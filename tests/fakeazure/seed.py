"""Initial ARM state, built from the spec's own examples with our names put in.

- ``LocalNetworkGatewayGet.json`` -> the LNG (our name, location, IP, address prefixes);
- ``VirtualNetworkGatewayConnectionGet.json`` -> the S2S connection from the Azure VPN
  gateway to that LNG, ``Connected``. Dropped from the example: ``sharedKey`` (a secret;
  Azure serves it only via ``.../sharedkey``), the NAT rules and the custom BGP addresses of
  the active-active example, which a plain pfSense S2S tunnel does not have.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import new_etag, new_id

PROVIDER = "Microsoft.Network"


@dataclass
class Names:
    """Every identifier the seeded Azure side uses (override any in ``FakeAzure(...)``)."""

    subscription_id: str = "6d1c7a0e-52b1-4c59-9d6e-3f0a1b2c3d4e"
    resource_group: str = "rg-s2s"
    location: str = "westeurope"
    lng_name: str = "lng-pfsense"
    connection_name: str = "cn-pfsense-azure"
    vng_name: str = "vng-azure"
    gateway_ip: str = "198.51.100.10"
    address_prefixes: list[str] = field(default_factory=lambda: ["192.168.1.0/24"])

    def rg_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"

    def resource_id(self, rtype: str, name: str) -> str:
        return f"{self.rg_id()}/providers/{PROVIDER}/{rtype}/{name}"


def normalize_location(loc: str) -> str:
    """ARM's canonical location: ``"West Europe"`` -> ``"westeurope"``."""
    return loc.replace(" ", "").lower()


def _example(api_dir: Path, name: str) -> dict[str, Any]:
    data = json.loads((api_dir / "examples" / name).read_text(encoding="utf-8"))
    return copy.deepcopy(data["responses"]["200"]["body"])


def seed_lng(api_dir: Path, n: Names) -> dict[str, Any]:
    lng = _example(api_dir, "LocalNetworkGatewayGet.json")
    lng["name"] = n.lng_name
    lng["id"] = n.resource_id("localNetworkGateways", n.lng_name)
    lng["etag"] = new_etag()
    lng["location"] = normalize_location(n.location)
    props = lng["properties"]
    props["resourceGuid"] = new_id()
    props["provisioningState"] = "Succeeded"
    props["gatewayIpAddress"] = n.gateway_ip
    props["localNetworkAddressSpace"] = {"addressPrefixes": list(n.address_prefixes)}
    return lng


def seed_connection(api_dir: Path, n: Names) -> dict[str, Any]:
    conn = _example(api_dir, "VirtualNetworkGatewayConnectionGet.json")
    conn["name"] = n.connection_name
    conn["id"] = n.resource_id("connections", n.connection_name)
    conn["etag"] = new_etag()
    conn["location"] = normalize_location(n.location)
    props = conn["properties"]
    for secret_or_unused in (
        "sharedKey",
        "ingressNatRules",
        "egressNatRules",
        "gatewayCustomBgpIpAddresses",
    ):
        props.pop(secret_or_unused, None)
    props["resourceGuid"] = new_id()
    props["virtualNetworkGateway1"] = {
        "id": n.resource_id("virtualNetworkGateways", n.vng_name),
        "properties": {},
    }
    props["localNetworkGateway2"] = {
        "id": n.resource_id("localNetworkGateways", n.lng_name),
        "properties": {},
    }
    props["connectionStatus"] = "Connected"
    props["ingressBytesTransferred"] = 1_048_576
    props["egressBytesTransferred"] = 524_288
    return conn
