"""Several subscriptions, service principals and LNGs in one fake Azure (issue 10).

    site = fake.add_site(Names(subscription_id=SUB_B, lng_name="lng-pfsense-b",
                               connection_name="cn-b", vng_name="vng-azure-b"))
    cred = secret_credential(fake, site.principal.client_secret,
                             client_id=site.principal.client_id)
    fake.fail_lng("lng-pfsense-b", status=500)          # its PUTs fail, the other LNG's don't
    fake.lng_writes("lng-pfsense")                       # accepted PUTs of that LNG

A *site* is what one Azure VNet holds for this office: an LNG and the connection from its
VPN gateway, in a subscription. A *principal* is a service principal (client id + secret)
with a role on some subscriptions; ARM answers 403 ``AuthorizationFailed`` for any other
subscription, as Azure does for an app without a role assignment there. The default
principal (``fake.client_id``) owns the default subscription (``fake.names``); by default
a new site's subscription gets its own principal, authorised only there.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .faults import Fault
from .seed import Names, seed_connection, seed_lng

SITE_B = {
    "subscription_id": "0b5e2c4d-7f6a-4b3c-9d8e-1f2a3b4c5d6e",
    "resource_group": "rg-s2s-b",
    "lng_name": "lng-pfsense-b",
    "connection_name": "cn-pfsense-azure-b",
    "vng_name": "vng-azure-b",
}
"""The lab's second site (VNet B's gateway, LNG ``lng-pfsense-b``): ``Names(**SITE_B)``."""

STATS_PATH = "/_fake/stats"
"""``GET`` it (no token) for :meth:`Sites.stats`: how a test reads a subprocess fake's counters."""


@dataclass
class Principal:
    """A service principal: credentials and the subscriptions it holds a role on."""

    client_id: str
    client_secret: str
    object_id: str
    subscriptions: set[str] = field(default_factory=set)

    def may_access(self, subscription_id: str) -> bool:
        return subscription_id.lower() in {s.lower() for s in self.subscriptions}


@dataclass
class Site:
    names: Names
    principal: Principal


def new_principal(subscription_id: str) -> Principal:
    return Principal(
        client_id=str(uuid.uuid4()),
        client_secret="fake~" + secrets.token_hex(16),
        object_id=str(uuid.uuid4()),
        subscriptions={subscription_id},
    )


class Tenancy:
    """The sites and principals of one fake (the server's default site is the first)."""

    def __init__(self, default: Site) -> None:
        self.sites: list[Site] = [default]
        self.principals: dict[str, Principal] = {default.principal.client_id: default.principal}

    def add(self, names: Names, principal: Principal | None) -> Site:
        if any(s.names.lng_name.lower() == names.lng_name.lower() for s in self.sites):
            raise ValueError(f"the fake already has an LNG named {names.lng_name!r}")
        if principal is None:  # a principal that already holds this subscription, else a new one
            principal = next(
                (p for p in self.principals.values() if p.may_access(names.subscription_id)),
                None,
            ) or new_principal(names.subscription_id)
        principal.subscriptions.add(names.subscription_id)
        self.principals[principal.client_id] = principal
        site = Site(names, principal)
        self.sites.append(site)
        return site

    def subscriptions(self) -> set[str]:
        return {s.names.subscription_id.lower() for s in self.sites}

    def resource_groups(self) -> set[str]:
        return {f"{s.names.subscription_id}/{s.names.resource_group}".lower() for s in self.sites}

    def site(self, lng_name: str | None = None) -> Site:
        if lng_name is None:
            return self.sites[0]
        for s in self.sites:
            if s.names.lng_name.lower() == lng_name.lower():
                return s
        raise KeyError(f"the fake has no LNG named {lng_name!r}")

    def secret(self, client_id: str) -> str | None:
        p = self.principals.get(client_id)
        return None if p is None else p.client_secret


class Sites:
    """FakeAzure's multi-LNG helpers (mixed in; uses its ``tenancy``, ``arm``, ``faults``)."""

    tenancy: Tenancy
    arm: Any
    faults: Any

    if TYPE_CHECKING:  # provided by FakeAzure

        def arm_requests(self, method: str | None = None) -> list[dict[str, Any]]: ...

    def _seed(self, n: Names) -> None:
        self.arm.resource_groups = self.tenancy.resource_groups()
        self.arm.add_resource(seed_lng(n))
        self.arm.add_resource(seed_connection(n))

    def add_site(self, names: Names, principal: Principal | None = None) -> Site:
        """Seed another LNG + connection (until ``reset()``; constructor ``sites`` stay).

        Its subscription's principal is ``principal``, else one that already holds that
        subscription, else a new one authorised only there (``site.principal``)."""
        site = self.tenancy.add(names, principal)
        self._seed(names)
        return site

    def site(self, lng_name: str | None = None) -> Site:
        return self.tenancy.site(lng_name)

    def lng_id_of(self, lng_name: str | None = None) -> str:
        n = self.site(lng_name).names
        return n.resource_id("localNetworkGateways", n.lng_name)

    def fail_lng(
        self, lng_name: str, *, status: int = 500, times: int | None = None, **kw: Any
    ) -> Fault:
        """Answer PUTs of this LNG only with ``status`` (forever unless ``times``)."""
        path = re.escape(self.lng_id_of(lng_name)) + "$"
        return self.faults.add("PUT", path, status=status, times=times, **kw)

    def lng_puts(self, lng_name: str | None = None, *, accepted: bool = False) -> int:
        """PUT requests of this LNG (``accepted``: only those that answered 200/201)."""
        path = self.lng_id_of(lng_name).lower()
        return sum(
            1
            for r in self.arm_requests("PUT")
            if r["path"].lower() == path and (not accepted or r["status"] in (200, 201))
        )

    def lng_writes(self, lng_name: str | None = None) -> int:
        """Writes Azure accepted for this LNG (what counts against a write limit)."""
        return self.lng_puts(lng_name, accepted=True)

    def stats(self) -> dict[str, Any]:
        """Per LNG: PUTs received, writes accepted, and the address it holds."""
        out: dict[str, Any] = {}
        for site in self.tenancy.sites:
            name = site.names.lng_name
            with self.arm.lock:
                lng = self.arm.resources.get(self.lng_id_of(name).lower()) or {}
            out[name] = {
                "puts": self.lng_puts(name),
                "writes": self.lng_writes(name),
                "gatewayIpAddress": lng.get("properties", {}).get("gatewayIpAddress"),
                "subscription_id": site.names.subscription_id,
            }
        return {"lngs": out}
