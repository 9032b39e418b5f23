"""The lab's addressing and its tunnels as both sides see them (pure data, no I/O).

Default lab: one WAN (veth ``wan0``), Azure gateways 203.0.113.1-3 on one azure-side charon.

``Scenario(multiwan=True)`` (issue 10) adds, on the onprem side, a second WAN (veth ``wan2``,
100.64.0.2, a CGNAT-style backup line) behind a gateway-group-like failover, and on the Azure
side two VPN gateways with their Local Network Gateways (LNGs):

- ``con1`` -> 203.0.113.1, gateway ``vng-azure`` (VNet A, subscription A), LNG ``lng-pfsense``;
- ``con4`` -> 203.0.113.4, the SAME gateway's second public IP (active-active): it shares
  LNG ``lng-pfsense`` with con1 (Azure has one VPN gateway per VNet; an active-active gateway
  has two public IPs and one connection per LNG);
- ``con2`` -> 203.0.113.2, gateway ``vng-azure-b`` (VNet B, subscription B), LNG
  ``lng-pfsense-b``.

One azure-side charon plays every gateway address (they are only addresses on its ``wan0``);
each of its connections expects the onprem side at the address its LNG holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# --- addressing (TEST-NET / RFC 1918 / RFC 6598 only) ---------------------------------------
ONPREM_WAN = "198.51.100.2"
AZURE_GW1 = "203.0.113.1"
AZURE_GW2 = "203.0.113.2"
AZURE_GW3 = "203.0.113.3"
AZURE_GW4 = "203.0.113.4"
"""The second public IP of the active-active gateway behind AZURE_GW1 (multiwan only)."""
AZURE_GWS = (AZURE_GW1, AZURE_GW2, AZURE_GW3)
AZURE_NET = "203.0.113.0/24"
ONPREM_LANS = ("192.168.1.1/24", "192.168.2.1/24")
AZURE_VNETS = ("10.1.10.1/24", "10.1.20.1/24", "10.1.30.1/24")
MOVE_NET = "192.0.2.0/24"
"""Where the onprem WAN address moves to in WAN-change tests (routed both ways)."""
ONPREM_WAN2 = "100.64.0.2"
"""WAN2 (multiwan): the backup line's address on veth ``wan2``."""
AZURE_WAN2_END = "100.64.0.1"
WAN2_PREFIX = 24

LNG_A = "lng-pfsense"
LNG_B = "lng-pfsense-b"
"""LNG names as the fake Azure seeds them (``Names().lng_name`` and the second site)."""


@dataclass(frozen=True)
class Tunnel:
    """One IKE connection as both sides see it."""

    ike: str  # onprem (pfSense) name, e.g. con1
    azure_ike: str  # azure-side name
    gw: str  # azure gateway address
    version: int
    children: tuple[tuple[str, str, str, str], ...] = field(default=())
    # (onprem child, azure child, onprem subnet, azure subnet)
    lng: str = LNG_A  # the Azure LNG that describes this office for this gateway


def tunnels(sc: Any) -> list[Tunnel]:
    """The tunnels of scenario ``sc`` (a :class:`tests.lab.config.Scenario`)."""
    out = [
        Tunnel(
            "con1", "onprem", AZURE_GW1, 2, (("con1", "vnet", "192.168.1.0/24", "10.1.10.0/24"),)
        )
    ]
    if getattr(sc, "multiwan", False):
        out.append(
            Tunnel(
                "con2",
                "onprem2",
                AZURE_GW2,
                2,
                (("con2", "vnet2", "192.168.1.0/24", "10.1.20.0/24"),),
                lng=LNG_B,
            )
        )
        # active-active: the second public IP of gateway A; same VNet, same LNG as con1
        # (another LAN prefix, as policy-based pfSense tunnels cannot share one pair)
        out.append(
            Tunnel(
                "con4",
                "onprem4",
                AZURE_GW4,
                2,
                (("con4", "vnet4", "192.168.2.0/24", "10.1.10.0/24"),),
                lng=LNG_A,
            )
        )
        return out
    if sc.con2:
        out.append(
            Tunnel(
                "con2",
                "onprem2",
                AZURE_GW2,
                2,
                (
                    ("con2_1", "vnet2_1", "192.168.1.0/24", "10.1.20.0/24"),
                    ("con2_2", "vnet2_2", "192.168.2.0/24", "10.1.20.0/24"),
                ),
            )
        )
    if sc.con3:
        out.append(
            Tunnel(
                "con3",
                "onprem3",
                AZURE_GW3,
                1,
                (("con3", "vnet3", "192.168.2.0/24", "10.1.30.0/24"),),
            )
        )
    return out


def lngs(sc: Any) -> list[str]:
    """The LNG names of ``sc``'s tunnels, in first-use order."""
    return list(dict.fromkeys(t.lng for t in tunnels(sc)))


def gateways(sc: Any) -> tuple[str, ...]:
    """Addresses the azure side's ``wan0`` carries."""
    return (*AZURE_GWS, AZURE_GW4) if getattr(sc, "multiwan", False) else AZURE_GWS
