"""Several Azure tunnels: ``azure_profiles``, and per tunnel its Azure target, WAN source and
pfSense phase 1 (docs/multi-tunnel.md section 3).

Two forms are accepted, never both:

- the tunnels form: ``azure_profiles: {NAME: {tenant_id, client_id, client_secret_file ...}}``
  (credentials written once) and per tunnel ``azure: {profile, subscription_id,
  resource_group, local_network_gateway, connection}``, ``wan: {source: interface |
  http | gateway_group, ...}`` and ``pfsense: {ikeid}``; the top-level ``wan`` then holds
  the tracker settings shared by every source (and may name a default source);
- the single form of earlier releases: one ``azure:`` + ``wan:`` for ``remediation.tunnel``
  (or the first tunnel), read as profile ``default`` and that tunnel's target.

:func:`check_tunnels` holds the cross-tunnel rules: one LNG holds one address, so tunnels
sharing an LNG must share their WAN source and credential profile; a connection belongs to
one LNG; ``ike`` is unique and matches ``con<ikeid>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..core.errors import ConfigError
from .azure import AzureSettings, check_profile, read_profile, read_target
from .reader import Reader

WAN_SOURCES = ("interface", "http", "gateway_group")
RESOLVERS = ("auto", "pfsense", "kernel")
_PROFILE = re.compile(r"^[A-Za-z0-9][-\w.]{0,63}$")


@dataclass(frozen=True)
class GroupMember:
    """One member of a pfSense gateway group (``GATEWAY|TIER|VIP``), for status and fallback."""

    gateway: str
    tier: int
    interface: str
    friendly: str | None = None
    vip: str | None = None


@dataclass(frozen=True)
class WanSource:
    """Where a tunnel's local address comes from."""

    source: str = "interface"
    interface: str | None = None
    group: str | None = None
    members: tuple[GroupMember, ...] = ()
    resolver: str = "auto"  # gateway_group: auto | pfsense | kernel (see observe.gwgroup)

    @property
    def identity(self) -> tuple[str, str | None]:
        if self.source == "interface":
            return (self.source, self.interface)
        if self.source == "gateway_group":
            return (self.source, self.group)
        return (self.source, None)  # http: the shared wan.http_endpoints

    def describe(self) -> str:
        what = self.identity[1]
        return f"{self.source} {what}" if what else self.source


def parse_profiles(data: Any, path: str) -> dict[str, AzureSettings]:
    """``azure_profiles``: name -> the credential half (target fields still empty)."""
    top = Reader(data, "azure_profiles", path)
    if not top.data:
        raise ConfigError(
            "must name at least one credential profile", path=path, key="azure_profiles"
        )
    out: dict[str, dict[str, Any]] = {}
    for name in top.data:
        if not isinstance(name, str) or not _PROFILE.match(name):
            raise top.err(str(name), "a profile name is 1-64 letters, digits or - _ .")
        r = top.sub(name, required=True)
        fields = read_profile(r)
        r.done()
        check_profile(r, fields)
        out[name] = fields
    return out  # type: ignore[return-value]


def parse_target(
    t: Reader, profiles: dict[str, Any], name: str
) -> tuple[AzureSettings | None, bool]:
    """A tunnel's ``azure`` target joined with its profile; (None, False) when it has none."""
    if t.data.get("azure") is None:
        t.used.add("azure")
        return None, False
    r = t.sub("azure")
    profile = r.text("profile", "default" if "default" in profiles else ...)
    target = read_target(r)
    r.done()
    if profile not in profiles:
        have = ", ".join(profiles) or "none"
        raise r.err(
            "profile",
            f"names no credential profile {profile!r} (azure_profiles has: {have}); add it "
            "under azure_profiles or fix the name",
        )
    return AzureSettings(**profiles[profile], **target, profile=profile), True


def parse_wan_source(t: Reader, default: WanSource | None) -> WanSource | None:
    if t.data.get("wan") is None:
        t.used.add("wan")
        return default
    r = t.sub("wan")
    source = r.choice("source", WAN_SOURCES)
    if source == "interface":
        src = WanSource(source, interface=r.text("interface"))
    elif source == "http":
        src = WanSource(source)
    else:
        group = r.text("group")
        raw = r.get("members", list)
        if not raw:
            raise r.err("members", "list the gateway group's members (at least one)")
        members = []
        for i, item in enumerate(raw):
            m = Reader(item, r.key(f"members[{i}]"), r.path)
            tier = m.get("tier", int, 1)
            if not 1 <= tier <= 5:
                raise m.err("tier", f"must be between 1 and 5 (pfSense tiers), got {tier}")
            members.append(
                GroupMember(
                    gateway=m.text("gateway"),
                    tier=tier,
                    interface=m.text("interface"),
                    friendly=m.text("friendly", None, nullable=True),
                    vip=m.text("vip", None, nullable=True),
                )
            )
            m.done()
        members.sort(key=lambda m: m.tier)
        resolver = r.choice("resolver", RESOLVERS, "auto")
        src = WanSource(source, group=group, members=tuple(members), resolver=resolver)
    r.done()
    return src


def parse_ikeid(t: Reader, ike: str) -> int | None:
    if t.data.get("pfsense") is None:
        t.used.add("pfsense")
        return None
    r = t.sub("pfsense")
    ikeid = r.get("ikeid", int)
    if ikeid < 1:
        raise r.err("ikeid", f"must be a phase 1 ikeid (1 or more), got {ikeid}")
    r.done()
    if ike != f"con{ikeid}":
        raise r.err(
            "ikeid",
            f"is {ikeid} but the tunnel's ike is {ike!r}: pfSense names phase 1 {ikeid}'s "
            f"connection con{ikeid}; set ike: con{ikeid} or the right ikeid",
        )
    return ikeid


def check_tunnels(tunnels: tuple[Any, ...], path: str) -> None:
    """Cross-tunnel rules 2-5 of docs/multi-tunnel.md; ConfigError names both tunnels."""
    by_lng: dict[tuple, Any] = {}
    by_conn: dict[tuple, Any] = {}
    by_ike: dict[str, Any] = {}
    for i, t in enumerate(tunnels):
        if t.ike in by_ike:
            raise ConfigError(
                f"tunnels {by_ike[t.ike].name} and {t.name} both use ike {t.ike!r}: each "
                "phase 1 belongs to one tunnel entry; remove one or fix the name",
                path=path,
                key=f"tunnels[{i}].ike",
            )
        by_ike[t.ike] = t
        a = t.azure
        if a is None:
            continue
        key = f"tunnels[{i}]"
        other = by_lng.setdefault(a.lng_key, t)
        if other is not t:
            lng = other.azure.local_network_gateway
            if other.wan is not None and t.wan is not None and other.wan.identity != t.wan.identity:
                raise ConfigError(
                    f"tunnels {other.name} and {t.name} both update LNG {lng} but use different "
                    f"WAN sources ({other.wan.describe()} vs {t.wan.describe()}): one LNG holds "
                    "one address; give them the same wan source or separate LNGs",
                    path=path,
                    key=f"{key}.wan",
                )
            if other.azure.profile != a.profile:
                raise ConfigError(
                    f"tunnels {other.name} and {t.name} both update LNG {lng} but use different "
                    f"credential profiles ({other.azure.profile} vs {a.profile}): one LNG has one "
                    "write limit and one credential; use the same profile",
                    path=path,
                    key=f"{key}.azure.profile",
                )
        if a.connection:
            ckey = (a.cloud, a.subscription_id.lower(), a.resource_group.lower())
            ckey += (a.connection.lower(),)
            first = by_conn.setdefault(ckey, t)
            if first is not t and first.azure.lng_key != a.lng_key:
                raise ConfigError(
                    f"tunnels {first.name} and {t.name} name the same connection {a.connection} "
                    f"under different LNGs ({first.azure.local_network_gateway} vs "
                    f"{a.local_network_gateway}): a connection belongs to one LNG; fix one "
                    "tunnel's local_network_gateway or connection",
                    path=path,
                    key=f"{key}.azure.connection",
                )


def join_forms(multi: bool, tunnels, rem, azure, wan, pfsense, path: str):
    """Both forms end the same: every tunnel with an Azure target carries it (and its WAN
    source, phase 1); ``Config.azure``/``wan``/``pfsense`` stay the remediated tunnel's view
    (what the single-tunnel code reads). Returns (tunnels, rem, azure, wan, pfsense)."""
    from dataclasses import replace

    from .pfsense import PfsenseSettings
    from .wan import WanSettings

    if not multi:
        if azure is None:
            return tunnels, rem, azure, wan, pfsense
        name = rem.tunnel or tunnels[0].name
        src = WanSource(wan.source, interface=wan.interface) if wan is not None else None
        ikeid = pfsense.ikeid if pfsense is not None else None
        joined = tuple(
            replace(t, azure=azure, wan=src, ikeid=ikeid) if t.name == name else t for t in tunnels
        )
        return joined, rem, azure, wan, pfsense
    shared = wan if wan is not None else WanSettings()
    for i, t in enumerate(tunnels):
        if t.azure is None:
            continue
        if t.wan is None:
            raise ConfigError(
                f"tunnel {t.name} has an Azure target but no WAN source: add wan: {{source: "
                "interface, interface: igb0}} (or gateway_group / http) to it, or a default "
                "source to the top-level wan",
                path=path,
                key=f"tunnels[{i}].wan",
            )
        if t.wan.resolver == "pfsense" and t.ikeid is None:
            raise ConfigError(
                f"tunnel {t.name} resolves its gateway group through pfSense but names no "
                "phase 1: add pfsense: {ikeid: N} to it, or use resolver: kernel",
                path=path,
                key=f"tunnels[{i}].wan.resolver",
            )
        if t.wan.source == "http" and len(shared.http_endpoints) < max(2, shared.quorum):
            raise ConfigError(
                f"tunnel {t.name} uses source http: list at least {max(2, shared.quorum)} "
                "https:// endpoints in wan.http_endpoints",
                path=path,
                key="wan.http_endpoints",
            )
    check_tunnels(tunnels, path)
    targets = [t for t in tunnels if t.azure is not None]
    if not targets:
        return tunnels, rem, None, wan, pfsense
    if rem.tunnel is None:
        rem = replace(rem, tunnel=targets[0].name)
    main = next((t for t in tunnels if t.name == rem.tunnel), None)
    if main is None or main.azure is None:
        raise ConfigError(
            f"names tunnel {rem.tunnel}, which has no azure target; name one of "
            f"{', '.join(t.name for t in targets)}",
            path=path,
            key="remediation.tunnel",
        )
    src = main.wan
    assert src is not None
    # A gateway group's view for the single-tunnel code is its preferred member's interface.
    iface = src.interface if src.source != "gateway_group" else src.members[0].interface
    view = replace(shared, source="http" if src.source == "http" else "interface", interface=iface)
    if main.ikeid is not None:
        pfsense = replace(pfsense or PfsenseSettings(), ikeid=main.ikeid, descr=None)
    return tunnels, rem, main.azure, view, pfsense
