"""Several Azure tunnels: one WAN change, one plan (pure; docs/multi-tunnel.md, planning).

Tunnels are grouped by their LNG key (cloud, subscription, resource group, LNG name,
compared case-insensitively). Each LNG is planned on its own with :func:`.plan.decide`,
from its own history (attempts, Azure writes) and its own write limit
(``max_azure_writes_per_hour`` applies per LNG): at most one ``update_lng`` per LNG whose
wanted address differs from the one last written, and the tunnels of that LNG follow it
(``apply_local_id`` for each, then ``restart_ike`` + ``verify`` for each). A failing LNG
backs off on its own history only, so it never delays another LNG's plan.

:func:`local_batch` collects every phase 1 the plans re-apply, so the executor writes them
in one config write and one reload.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .plan import Decision, History, Plan, Policy, Step, View, backoff, decide

LngKey = tuple[str, str, str, str]
_WORST = ("DOWN", "UNKNOWN", "DEGRADED", "UP")


@dataclass(frozen=True)
class TunnelView:
    name: str
    lng_key: LngKey
    health: str
    wan_ip: str | None  # the confirmed address of this tunnel's WAN source; None = unknown
    # the address this tunnel's local identifier holds (None = not known: a tunnel a reload
    # added, without an SA to tell); "=" = whatever its LNG's applied_ip is
    applied_ip: str | None = "="


@dataclass(frozen=True)
class LngView:
    key: LngKey
    name: str  # the LNG's name as configured (for messages)
    applied_ip: str | None  # the address last written to this LNG (and its tunnels' ids)
    lng_ip: str | None = None  # Azure's gatewayIpAddress as last read; None = unknown
    last_write: float | None = None


@dataclass(frozen=True)
class LngDecision:
    """One LNG's plan; ``steps`` hold the LNG's own steps and its tunnels' steps."""

    key: LngKey
    name: str
    tunnels: tuple[str, ...]
    decision: Decision
    steps: tuple[tuple[str | None, Step], ...] = field(default=())  # (tunnel or None, step)

    @property
    def plan(self) -> Plan:
        return self.decision.plan

    @property
    def updates_lng(self) -> bool:
        return any(s.kind == "update_lng" for _, s in self.steps)


def wanted_ip(tunnels: list[TunnelView]) -> tuple[str | None, str]:
    """The address one LNG should hold: the one its tunnels' sources agree on.

    Tunnels of one LNG share their WAN source (a config rule), so they normally agree; while
    one source has no answer yet the others decide; a real disagreement plans nothing."""
    seen = sorted({t.wan_ip for t in tunnels if t.wan_ip})
    if len(seen) > 1:
        return None, f"the tunnels of this LNG see different WAN addresses ({', '.join(seen)})"
    return (seen[0] if seen else None), ""


def worst(tunnels: list[TunnelView]) -> str:
    healths = [t.health if t.health in _WORST else "UNKNOWN" for t in tunnels]
    return min(healths, key=_WORST.index) if healths else "UNKNOWN"


def plan_all(
    now: float,
    tunnels: list[TunnelView],
    lngs: dict[LngKey, LngView],
    histories: dict[LngKey, History],
    policy: Policy,
    role: str = "standalone",
) -> tuple[LngDecision, ...]:
    """One decision per LNG key with at least one tunnel, in the tunnels' config order."""
    groups: dict[LngKey, list[TunnelView]] = {}
    for t in tunnels:
        groups.setdefault(t.lng_key, []).append(t)
    out = []
    for key, members in groups.items():
        lng = lngs.get(key) or LngView(key, key[3], None)
        ip, why = wanted_ip(members)
        view = View(
            now=now,
            health=worst(members),
            wan_ip=ip,
            applied_ip=lng.applied_ip,
            lng_ip=lng.lng_ip,
            role=role,
            last_lng_write=lng.last_write,
        )
        hist = histories.get(key) or History()
        d = decide(view, hist, policy)
        if why:
            d = Decision(Plan(reason=why, blocked=why), d.changes)
        names = tuple(t.name for t in members)
        applied = d.changes.applied_ip or lng.applied_ip
        behind = []
        if ip and applied == ip and not why and policy.enabled:
            # the LNG is on the address; a tunnel whose own id is not (a reload added it)
            # follows it before any DOWN ladder rung, which could never bring it up
            behind = [t.name for t in members if t.applied_ip not in ("=", ip)]
            if behind and role != "backup":
                d = Decision(_follow_plan(now, lng.name, behind, ip, hist, policy), d.changes)
        acting = tuple(behind) if behind and d.plan.steps else names
        out.append(LngDecision(key, lng.name, names, d, spread(d.plan, acting)))
    return tuple(out)


def _follow_plan(
    now: float, lng: str, behind: list[str], ip: str, hist: History, policy: Policy
) -> Plan:
    """Tunnels of an LNG that already holds ``ip`` whose own local identifier is not on it
    (a reload added them): re-apply their id, restart and verify them; no Azure write.
    Backs off on the LNG's attempts towards ``ip`` like a heal."""
    reason = f"tunnel {', '.join(behind)}: local identifier not on LNG {lng}'s address {ip}"
    tries = [a for a in hist.attempts if a.target == ip]
    not_before = tries[-1].time + backoff(len(tries) + 1, policy) if tries else now
    if now < not_before:
        return Plan(
            reason=reason,
            wait_until=not_before,
            target=ip,
            blocked="backing off after a failed attempt",
        )
    steps = (Step("apply_local_id", ip), Step("restart_ike"), Step("verify"))
    return Plan(steps, reason, target=ip)


def spread(plan: Plan, tunnels: tuple[str, ...]) -> tuple[tuple[str | None, Step], ...]:
    """The LNG's steps run once (``update_lng``, ``check_lng``, ``reset_connection``); the
    tunnel steps run once per tunnel of the LNG, all ``apply_local_id`` first."""
    once = [
        (None, s) for s in plan.steps if s.kind in ("update_lng", "check_lng", "reset_connection")
    ]
    per = [s for s in plan.steps if s.kind not in ("update_lng", "check_lng", "reset_connection")]
    order = {"apply_local_id": 0, "initiate_child": 1, "restart_ike": 1, "verify": 2}
    per.sort(key=lambda s: order.get(s.kind, 1))
    follow = [(t, s) for s in per for t in tunnels]
    follow.sort(key=lambda ts: order.get(ts[1].kind, 1))
    return (*once, *follow)


def local_batch(decisions: tuple[LngDecision, ...]) -> tuple[tuple[str, str], ...]:
    """Every (tunnel, address) the plans re-apply: one config write and one reload for all."""
    return tuple(
        (t, s.ip)
        for d in decisions
        for t, s in d.steps
        if t is not None and s.kind == "apply_local_id" and s.ip
    )
