"""The remediation planner: one pure function decides the next steps.

Inputs are plain values (tunnel health, the confirmed WAN IP, what was last applied, what
Azure says, the ladder history, the policy); the output is a :class:`Plan`. The executor
runs it and records every step; nothing here touches the network, a file or a clock.

Decisions, in order:

1. remediation disabled, or this node is a CARP BACKUP → nothing (observe only);
2. the WAN IP changed (the confirmed WAN IP differs from the IP last applied) → the heal
   sequence: ``update_lng`` (unless Azure already has it), ``apply_local_id``,
   ``restart_ike``, ``verify`` — unless the Azure write limit is reached (then wait). A
   newly confirmed IP is new information: only failed heals *towards that IP* delay it
   (backoff); DOWN-ladder attempts made before the change was known do not;
3. the tunnel is UP (or DEGRADED, or UNKNOWN: nothing safe to do) → nothing;
4. the tunnel is DOWN without an IP change → the ladder, one rung per attempt, spaced by a
   capped exponential backoff: ``initiate_child`` → ``restart_ike`` → ``check_lng``
   (compare the Azure LNG IP with the WAN IP; the executor heals if they differ) →
   ``reset_connection`` (only if configured) → then ``restart_ike`` / ``check_lng`` again
   at the capped interval, with an alert when the ladder is exhausted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

STEP_KINDS = (
    "update_lng",
    "apply_local_id",
    "restart_ike",
    "initiate_child",
    "check_lng",
    "reset_connection",
    "verify",
)
AZURE_WRITES = ("update_lng", "reset_connection")


@dataclass(frozen=True)
class Policy:
    enabled: bool = True
    max_azure_writes_per_hour: int = 6
    reset_connection_after: float = 0.0  # seconds DOWN after a good LNG update; 0 = never
    backoff_base: float = 10.0
    backoff_cap: float = 900.0


@dataclass(frozen=True)
class View:
    now: float
    health: str
    wan_ip: str | None  # confirmed (after hysteresis) WAN IP; None = unknown
    applied_ip: str | None  # the IP last applied to Azure and the local identifier
    lng_ip: str | None = None  # Azure's LNG gatewayIpAddress as last read; None = unknown
    role: str = "standalone"  # standalone | master | backup
    last_lng_write: float | None = None


@dataclass(frozen=True)
class Attempt:
    time: float
    step: str
    ok: bool
    target: str | None = None  # the WAN IP a heal was moving to; None for a ladder rung


@dataclass(frozen=True)
class Step:
    kind: str
    ip: str | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "ip": self.ip}


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...] = ()
    reason: str = ""
    wait_until: float | None = None  # earliest time the next attempt may run
    blocked: str | None = None  # why nothing runs although something is wrong
    ladder_exhausted: bool = False
    target: str | None = None  # a heal: the WAN IP it moves to

    def to_dict(self) -> dict:
        return {
            "steps": [s.to_dict() for s in self.steps],
            "reason": self.reason,
            "wait_until": self.wait_until,
            "blocked": self.blocked,
            "ladder_exhausted": self.ladder_exhausted,
            "target": self.target,
        }


@dataclass
class History:
    """Attempts in the current incident, and the times of Azure writes (for the limit)."""

    attempts: list[Attempt] = field(default_factory=list)
    azure_writes: list[float] = field(default_factory=list)

    def writes_last_hour(self, now: float) -> list[float]:
        return [t for t in self.azure_writes if now - t < 3600]


@dataclass(frozen=True)
class Changes:
    """What a decision records in the remediation memory (the executor applies it)."""

    applied_ip: str | None = None  # adopt this IP as applied (a working tunnel on it)
    clear_attempts: bool = False  # the incident is over: forget the attempts

    def __bool__(self) -> bool:
        return self.applied_ip is not None or self.clear_attempts


@dataclass(frozen=True)
class Decision:
    plan: Plan
    changes: Changes


def decide(view: View, history: History, policy: Policy) -> Decision:
    """The plan and the memory changes to record, from the same inputs (pure).

    A tunnel UP on a known WAN IP with nothing applied yet: that IP is the applied state.
    A tunnel UP: the incident is over, its attempts are forgotten. The plan is made as if
    the changes were already recorded.
    """
    adopt = view.wan_ip if view.wan_ip and view.applied_ip is None and view.health == "UP" else None
    clear = view.health == "UP" and bool(history.attempts)
    changes = Changes(adopt, clear)
    if adopt:
        view = replace(view, applied_ip=adopt)
    if clear:
        history = History(attempts=[], azure_writes=list(history.azure_writes))
    return Decision(plan(view, history, policy), changes)


def backoff(n: int, policy: Policy) -> float:
    """Delay before attempt number ``n`` (1-based) of an incident; 0 for the first."""
    if n <= 1:
        return 0.0
    return min(policy.backoff_cap, policy.backoff_base * 2 ** (n - 2))


def heal_steps(view: View) -> tuple[Step, ...]:
    ip = view.wan_ip
    steps = [] if view.lng_ip == ip else [Step("update_lng", ip)]
    return (*steps, Step("apply_local_id", ip), Step("restart_ike"), Step("verify"))


def _not_before(attempts: list[Attempt], now: float, policy: Policy) -> float:
    if not attempts:
        return now
    return attempts[-1].time + backoff(len(attempts) + 1, policy)


def plan(view: View, history: History, policy: Policy) -> Plan:
    if not policy.enabled:
        return Plan(reason="remediation disabled (remediation.enabled)")
    if view.role == "backup":
        return Plan(reason="CARP BACKUP node: observing only; the MASTER acts")
    writes = history.writes_last_hour(view.now)
    limit_hit = len(writes) >= policy.max_azure_writes_per_hour

    if view.wan_ip and view.applied_ip and view.wan_ip != view.applied_ip:
        reason = f"WAN IP changed {view.applied_ip} -> {view.wan_ip}"
        steps = heal_steps(view)
        if any(s.kind in AZURE_WRITES for s in steps) and limit_hit:
            return Plan(
                reason=reason,
                wait_until=min(writes) + 3600,
                target=view.wan_ip,
                blocked=f"Azure write limit reached ({policy.max_azure_writes_per_hour}/h, "
                "remediation.max_azure_writes_per_hour)",
            )
        # only earlier heals towards this very IP back off; the ladder's rungs (made before
        # the change was known) and heals towards another IP say nothing about this one
        tries = [a for a in history.attempts if a.target == view.wan_ip]
        not_before = _not_before(tries, view.now, policy)
        if view.now < not_before:
            return Plan(
                reason=reason,
                wait_until=not_before,
                target=view.wan_ip,
                blocked="backing off after a failed attempt",
            )
        return Plan(steps, reason, target=view.wan_ip)

    if view.health != "DOWN":
        return Plan(reason=f"tunnel {view.health}: nothing to do")
    n = len(history.attempts) + 1
    not_before = _not_before(history.attempts, view.now, policy)

    ladder = ["initiate_child", "restart_ike", "check_lng"]
    if view.applied_ip is None and view.wan_ip:
        ladder = ["check_lng", "initiate_child", "restart_ike"]  # first run: ask Azure first
    if policy.reset_connection_after > 0:
        ladder.append("reset_connection")
    exhausted = n > len(ladder)
    kind = ladder[n - 1] if not exhausted else ("restart_ike", "check_lng")[n % 2]
    if view.now < not_before:
        return Plan(
            reason=f"tunnel DOWN, next rung {kind}",
            wait_until=not_before,
            blocked="backing off",
            ladder_exhausted=exhausted,
        )
    if kind == "reset_connection":
        since_write = None if view.last_lng_write is None else view.now - view.last_lng_write
        if since_write is None or since_write < policy.reset_connection_after or limit_hit:
            kind = "check_lng"
    if kind == "check_lng" and view.wan_ip is None:
        kind = "restart_ike"
    step = Step(kind, view.wan_ip if kind == "check_lng" else None)
    return Plan((step,), f"tunnel DOWN, attempt {n}: {kind}", ladder_exhausted=exhausted)
