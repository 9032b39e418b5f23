"""Per-tunnel health: a pure function of (SA snapshot, recent log events, probe, time).

States: ``UP``, ``DEGRADED``, ``DOWN``, ``UNKNOWN``. Reasons are stable machine-readable
words (documented in the README), listed most important first:

=====================  =========  ==============================================================
reason                 health     meaning
=====================  =========  ==============================================================
sa_source_error        UNKNOWN    strongSwan could not be asked (charon down, socket missing ...)
sa_unreadable          UNKNOWN    part of strongSwan's output could not be read, and it may be
                                  this tunnel's SA: its state is not known, so it is neither
                                  DOWN nor remediated (the parser's warnings say which lines)
ike_sa_missing         DOWN       no IKE SA of the configured connection exists
ike_connecting         DOWN       the IKE SA exists but is not ESTABLISHED (CONNECTING, ...)
child_sa_missing       DOWN/DEG.  a configured CHILD SA is not INSTALLED (all: DOWN, some: DEG.)
probe_failed           DOWN       SAs look up but no probe reply came back ("SA up, no traffic")
dpd_giveup             DOWN*      charon gave up on the peer after retransmits (log)
auth_failed            DOWN*      authentication failed (log)
no_proposal            DOWN*      no acceptable proposal (log)
ts_unacceptable        DOWN*      traffic selectors refused (log)
peer_config_not_found  DOWN*      the peer found no matching config (log)
retransmits            DEGRADED   charon is retransmitting to the established peer (log)
probe_loss             DEGRADED   probe packets were lost: above health.probe_loss_degraded over
                                  the last few probes (one lost ping is not an incident)
probe_error            DEGRADED   the probe could not run (ping missing, timed out, bad output)
=====================  =========  ==============================================================

(*) log reasons are attached to a DOWN tunnel to say why; while an IKE SA is ESTABLISHED only
events that happened after its last establishment count, so old failures do not stick.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.model import ChildSa, IkeSa, SaSnapshot

UP, DEGRADED, DOWN, UNKNOWN = "UP", "DEGRADED", "DOWN", "UNKNOWN"
STATES = (UP, DEGRADED, DOWN, UNKNOWN)
_RANK = {UP: 0, DEGRADED: 1, DOWN: 2, UNKNOWN: 3}

# log kind -> reason attached to a DOWN (or not yet established) tunnel
LOG_FAILURE_REASONS = {
    "retransmit_giveup": "dpd_giveup",
    "auth_failed": "auth_failed",
    "no_proposal": "no_proposal",
    "ts_unacceptable": "ts_unacceptable",
    "peer_config_not_found": "peer_config_not_found",
}


@dataclass(frozen=True)
class SeenEvent:
    """A classified log event and the wall-clock time the agent read it."""

    seen: float
    kind: str
    conn: str | None
    time: str | None = None
    message: str = ""


@dataclass(frozen=True)
class ProbeView:
    """What health needs of a probe result."""

    sent: int
    received: int
    error: str | None = None
    # the last few probes together (for partial loss); None: the latest alone
    window_sent: int | None = None
    window_received: int | None = None

    @property
    def loss(self) -> float:
        return 1.0 if self.sent <= 0 else max(0.0, 1.0 - self.received / self.sent)

    @property
    def window_loss(self) -> float:
        if self.window_sent is None or self.window_received is None or self.window_sent <= 0:
            return self.loss
        return max(0.0, 1.0 - self.window_received / self.window_sent)


@dataclass(frozen=True)
class Assessment:
    health: str
    reasons: tuple[str, ...]
    ike: IkeSa | None = None
    children: dict[str, ChildSa | None] = field(default_factory=dict)


def pick_ike(snapshot: SaSnapshot, ike_name: str) -> IkeSa | None:
    """The IKE SA that represents the connection: ESTABLISHED first, newest (highest id)."""
    candidates = snapshot.by_name(ike_name)
    if not candidates:
        return None
    return max(
        candidates,
        key=lambda s: (s.state == "ESTABLISHED", len(s.child_sas), s.uniqueid or 0),
    )


def _child_rank(child: ChildSa) -> int:
    # INSTALLED, then unreadable (it may be installed), then any other state
    return 2 if child.state == "INSTALLED" else 1 if child.state is None else 0


def find_children(snapshot: SaSnapshot, ike_name: str, names: tuple[str, ...]) -> dict:
    """Each configured CHILD name → the best matching CHILD SA under that connection."""
    found: dict[str, ChildSa | None] = dict.fromkeys(names)
    for ike in snapshot.by_name(ike_name):
        for child in ike.child_sas:
            if child.name in found:
                cur = found[child.name]
                if cur is None or _child_rank(child) > _child_rank(cur):
                    found[child.name] = child
    return found


def _unreadable(snapshot: SaSnapshot, ike_name: str, found: dict) -> list[str]:
    """Configured CHILD names whose state the (partly read) snapshot cannot tell."""
    damaged = snapshot.unattributed or any(i.damaged for i in snapshot.by_name(ike_name))
    return [
        n
        for n, c in found.items()
        if (c is not None and c.state is None) or (c is None and damaged)
    ]


def assess(
    ike_name: str,
    children: tuple[str, ...],
    snapshot: SaSnapshot | None,
    events: list[SeenEvent],
    probe: ProbeView | None,
    now: float,
    *,
    event_window: float = 300.0,
    probe_loss_degraded: float = 0.2,
) -> Assessment:
    """Decide a tunnel's health. ``snapshot`` None means the SA source failed."""
    if snapshot is None:
        return Assessment(UNKNOWN, ("sa_source_error",))
    ike = pick_ike(snapshot, ike_name)
    found = find_children(snapshot, ike_name, children)
    # a partly read snapshot: the unreadable part may be this connection's IKE SA
    if (ike is None or ike.state != "ESTABLISHED") and (
        snapshot.unattributed or any(i.state is None for i in snapshot.by_name(ike_name))
    ):
        return Assessment(UNKNOWN, ("sa_unreadable",), ike, found)
    recent = [e for e in events if e.conn == ike_name and now - e.seen <= event_window]
    established = ike is not None and ike.state == "ESTABLISHED"
    if established:
        # only what the log says after the (last) establishment speaks about this SA;
        # events are in log order, and one poll may read a whole failure-and-recovery story
        ups = [i for i, e in enumerate(recent) if e.kind == "ike_established"]
        if ups:
            recent = recent[ups[-1] + 1 :]
    log_reasons = _ordered(
        {LOG_FAILURE_REASONS[e.kind] for e in recent if e.kind in LOG_FAILURE_REASONS}
    )

    reasons: list[str] = []
    health = UP
    if ike is None:
        health = DOWN
        reasons.append("ike_sa_missing")
    elif not established:
        health = DOWN
        reasons.append("ike_connecting")
    if health == DOWN:
        reasons.extend(log_reasons)
        return Assessment(health, tuple(_dedupe(reasons)), ike, found)

    missing = [n for n, c in found.items() if c is None or c.state != "INSTALLED"]
    unknown = _unreadable(snapshot, ike_name, found) if snapshot.partial else []
    unknown = [n for n in unknown if n in missing]
    if unknown:
        reasons = ["child_sa_missing"] if len(unknown) < len(missing) else []
        return Assessment(UNKNOWN, (*reasons, "sa_unreadable"), ike, found)
    if missing:
        health = DOWN if len(missing) == len(found) else DEGRADED
        reasons.append("child_sa_missing")
    if health == DOWN:
        reasons.extend(log_reasons)
        return Assessment(health, tuple(_dedupe(reasons)), ike, found)

    if probe is not None:
        if probe.error and probe.received == 0:
            health = _worst(health, DEGRADED)
            reasons.append("probe_error")
        elif probe.loss >= 1.0:
            return Assessment(
                DOWN, tuple(_dedupe(["probe_failed", *reasons, *log_reasons])), ike, found
            )
        elif probe.window_loss > probe_loss_degraded:
            health = _worst(health, DEGRADED)
            reasons.append("probe_loss")
    if any(e.kind in ("retransmit", "retransmit_giveup") for e in recent):
        health = _worst(health, DEGRADED)
        reasons.append("retransmits")
    return Assessment(health, tuple(_dedupe(reasons)), ike, found)


def _worst(a: str, b: str) -> str:
    return a if _RANK[a] >= _RANK[b] else b


def _ordered(reasons: set[str]) -> list[str]:
    order = list(LOG_FAILURE_REASONS.values())
    return sorted(reasons, key=order.index)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def overall(states: list[str]) -> str:
    """The worst of several tunnel states (UNKNOWN counts as worst)."""
    return max(states, key=_RANK.__getitem__) if states else UNKNOWN
