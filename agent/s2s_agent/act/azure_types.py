"""What :class:`~.azure.AzureClient` returns: the views of a Local Network Gateway and of a
VPN connection, read from ARM's JSON (no SDK types), and an LNG update's result."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class LngView:
    id: str
    name: str
    location: str
    ip: str | None
    etag: str | None
    address_prefixes: tuple[str, ...]
    fqdn: str | None
    bgp: dict | None
    tags: dict
    provisioning_state: str | None
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_json(cls, d: dict) -> LngView:
        p = d.get("properties") or {}
        return cls(
            id=d.get("id", ""),
            name=d.get("name", ""),
            location=d.get("location", ""),
            ip=p.get("gatewayIpAddress"),
            etag=d.get("etag"),
            address_prefixes=tuple(
                (p.get("localNetworkAddressSpace") or {}).get("addressPrefixes") or ()
            ),
            fqdn=p.get("fqdn"),
            bgp=p.get("bgpSettings"),
            tags=dict(d.get("tags") or {}),
            provisioning_state=p.get("provisioningState"),
            raw=copy.deepcopy(d),
        )

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("raw")
        out["address_prefixes"] = list(self.address_prefixes)
        return out


@dataclass(frozen=True)
class ConnectionView:
    id: str
    name: str
    status: str | None
    ingress_bytes: int | None
    egress_bytes: int | None
    connection_type: str | None
    protocol: str | None
    provisioning_state: str | None
    lng_id: str | None
    tunnels: tuple[dict, ...] = ()
    """``tunnelConnectionStatus``: one entry per tunnel of an active-active gateway."""

    @classmethod
    def from_json(cls, d: dict) -> ConnectionView:
        p = d.get("properties") or {}
        per = [x for x in p.get("tunnelConnectionStatus") or () if isinstance(x, dict)]
        return cls(
            id=d.get("id", ""),
            name=d.get("name", ""),
            status=p.get("connectionStatus"),
            ingress_bytes=p.get("ingressBytesTransferred"),
            egress_bytes=p.get("egressBytesTransferred"),
            connection_type=p.get("connectionType"),
            protocol=p.get("connectionProtocol"),
            provisioning_state=p.get("provisioningState"),
            lng_id=(p.get("localNetworkGateway2") or {}).get("id"),
            tunnels=tuple(
                {
                    "tunnel": x.get("tunnel"),
                    "status": x.get("connectionStatus"),
                    "ingress_bytes": x.get("ingressBytesTransferred"),
                    "egress_bytes": x.get("egressBytesTransferred"),
                    "last_established": x.get("lastConnectionEstablishedUtcTime"),
                }
                for x in per
            ),
        )

    def as_dict(self) -> dict:
        out = asdict(self)
        out["tunnels"] = [dict(x) for x in self.tunnels]
        return out


@dataclass(frozen=True)
class UpdateResult:
    changed: bool
    old_ip: str | None
    new_ip: str
    attempts: int
    seconds: float
