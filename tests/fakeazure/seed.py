"""Initial ARM state: the LNG and the S2S connection as Azure returns them, with our names.

- The LNG: our name, location, public IP and address prefixes; ``provisioningState``
  ``Succeeded``, a fresh ``resourceGuid`` and etag.
- The S2S connection from the Azure VPN gateway to that LNG: IPsec, IKEv2, ``Connected``,
  DPD 45 s (Azure's default), some traffic. Like Azure, the fake never serves ``sharedKey``
  (a secret; Azure has ``.../sharedkey`` for it); NAT rules, custom BGP addresses and custom
  IPsec/traffic-selector policies are absent, as on a plain pfSense S2S tunnel.

Every field is one the repository's REST facts (:mod:`.schema`) define; the fake checks its
own replies against them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


def seed_lng(n: Names) -> dict[str, Any]:
    return {
        "name": n.lng_name,
        "id": n.resource_id("localNetworkGateways", n.lng_name),
        "etag": new_etag(),
        "type": f"{PROVIDER}/localNetworkGateways",
        "location": normalize_location(n.location),
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": new_id(),
            "localNetworkAddressSpace": {"addressPrefixes": list(n.address_prefixes)},
            "gatewayIpAddress": n.gateway_ip,
        },
    }


def seed_connection(n: Names) -> dict[str, Any]:
    return {
        "name": n.connection_name,
        "id": n.resource_id("connections", n.connection_name),
        "etag": new_etag(),
        "type": f"{PROVIDER}/connections",
        "location": normalize_location(n.location),
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": new_id(),
            "virtualNetworkGateway1": {
                "id": n.resource_id("virtualNetworkGateways", n.vng_name),
                "properties": {},
            },
            "localNetworkGateway2": {
                "id": n.resource_id("localNetworkGateways", n.lng_name),
                "properties": {},
            },
            "connectionType": "IPsec",
            "connectionProtocol": "IKEv2",
            "routingWeight": 0,
            "dpdTimeoutSeconds": 45,
            "enableBgp": False,
            "useLocalAzureIpAddress": False,
            "usePolicyBasedTrafficSelectors": False,
            "connectionStatus": "Connected",
            "ingressBytesTransferred": 1_048_576,
            "egressBytesTransferred": 524_288,
            "connectionMode": "Default",
        },
    }
