"""Alert decisions: one syslog line per health transition, reminders while it persists.

The message format is stable so admins can filter on it (documented in the README)::

    tunnel=<name> ike=<conn> health=<STATE> previous=<STATE> reasons=<r1,r2|-> event=<kind> since=<ISO> [lng=<LNG>]

``event`` is ``transition`` or ``reminder``; ``lng`` names the tunnel's Azure LNG (tunnels
with an Azure target). :class:`LngAlertFilter` keeps the remediation events of a failing LNG
from becoming a storm. Severity: DOWN → ``err``, DEGRADED and
UNKNOWN → ``warning``, UP → ``notice``. This module only decides; the daemon sends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ..core.clock import iso

SEVERITY = {"UP": "notice", "DEGRADED": "warning", "DOWN": "err", "UNKNOWN": "warning"}


@dataclass
class TunnelAlertState:
    health: str
    reasons: tuple[str, ...]
    since: float
    last_alert: float | None = None

    def to_dict(self) -> dict:
        return {
            "health": self.health,
            "reasons": list(self.reasons),
            "since": self.since,
            "last_alert": self.last_alert,
        }

    @classmethod
    def from_dict(cls, d: dict) -> TunnelAlertState:
        """From persisted state; ValueError for anything of the wrong shape."""
        if not isinstance(d, dict) or not isinstance(d.get("health"), str):
            raise ValueError("not an alert state")
        reasons = d.get("reasons", ())
        if not isinstance(reasons, list | tuple) or not all(isinstance(r, str) for r in reasons):
            raise ValueError("reasons is not a list of strings")
        last = d.get("last_alert")
        st = cls(
            d["health"],
            tuple(reasons),
            _time(d.get("since")),
            None if last is None else _time(last),
        )
        return st


def _time(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"not a time: {value!r}")
    t = float(value)  # OverflowError for a huge int is an ArithmeticError: caught below
    if not math.isfinite(t):
        raise ValueError(f"not a time: {value!r}")
    return t


@dataclass(frozen=True)
class Alert:
    tunnel: str
    severity: str
    message: str


def format_message(
    tunnel: str,
    ike: str,
    health: str,
    previous: str,
    reasons,
    event: str,
    since: float,
    lng: str | None = None,
) -> str:
    return (
        f"tunnel={tunnel} ike={ike} health={health} previous={previous} "
        f"reasons={','.join(reasons) or '-'} event={event} since={iso(since)}"
        + (f" lng={lng}" if lng else "")
    )


@dataclass
class AlertTracker:
    """Remembers each tunnel's last health and decides which alerts to send."""

    reminder_interval: float = 1800.0
    states: dict[str, TunnelAlertState] = field(default_factory=dict)
    lngs: dict[str, str] = field(default_factory=dict)
    """tunnel -> the LNG its address is written to (named in its lines as ``lng=``)."""

    def update(self, tunnel: str, ike: str, health: str, reasons, now: float) -> list[Alert]:
        reasons = tuple(reasons)
        cur = self.states.get(tunnel)
        if cur is None:
            # first sight (no persisted state): only a problem is worth a line
            self.states[tunnel] = TunnelAlertState(health, reasons, now)
            if health == "UP":
                return []
            return [self._emit(tunnel, ike, health, "UNKNOWN", reasons, "transition", now)]
        if health != cur.health:
            previous = cur.health
            self.states[tunnel] = TunnelAlertState(health, reasons, now)
            return [self._emit(tunnel, ike, health, previous, reasons, "transition", now)]
        cur.reasons = reasons
        if (
            health != "UP"
            and self.reminder_interval > 0
            and now - (cur.last_alert or cur.since) >= self.reminder_interval
        ):
            return [self._emit(tunnel, ike, health, health, reasons, "reminder", now)]
        return []

    def _emit(self, tunnel, ike, health, previous, reasons, event, now) -> Alert:
        st = self.states[tunnel]
        st.last_alert = now
        msg = format_message(
            tunnel, ike, health, previous, reasons, event, st.since, self.lngs.get(tunnel)
        )
        return Alert(tunnel, SEVERITY.get(health, "warning"), msg)

    def forget_except(self, names: set[str]) -> None:
        for name in list(self.states):
            if name not in names:
                del self.states[name]

    def to_dict(self) -> dict:
        return {name: st.to_dict() for name, st in self.states.items()}

    def load(self, data: dict) -> None:
        if not isinstance(data, dict):
            return
        for name, d in data.items():
            try:
                self.states[name] = TunnelAlertState.from_dict(d)
            except (TypeError, ValueError, ArithmeticError):
                continue


def fields(message: str) -> dict[str, str]:
    """The ``key=value`` fields of an alert line (values end at the next space; a quoted
    value such as ``trigger="..."`` is not needed here)."""
    out: dict[str, str] = {}
    for part in message.split(" "):
        k, sep, v = part.partition("=")
        if sep and k.isidentifier() and k not in out:
            out[k] = v
    return out


@dataclass
class LngAlertFilter:
    """Remediation events per LNG without an alert storm: a failing LNG (or one tunnel of
    it) alerts when it starts failing; while it keeps failing the same way its repeats are
    held back and one goes out every ``reminder_interval`` (0: none) with ``repeated=N``; the next
    success of that LNG is told with ``recovered_after=<seconds>s``. Lines without ``lng=``
    pass unchanged. Wraps the daemon's ``notify(severity, message)``."""

    send: Callable[[str, str], None]
    clock: Callable[[], float]
    reminder_interval: float = 1800.0
    failing: dict[tuple[str, str], list] = field(default_factory=dict)

    def __call__(self, severity: str, message: str) -> None:
        f = fields(message)
        lng, event = f.get("lng"), f.get("event")
        if not lng or event not in ("remediation_failed", "remediated", "remediation_attempt"):
            self.send(severity, message)
            return
        key = (lng, f.get("tunnel", ""))
        now = self.clock()
        if event == "remediation_failed":
            st = self.failing.get(key)  # [since, last sent, held back, step]
            quiet = (
                self.reminder_interval <= 0 or now - st[1] < self.reminder_interval if st else False
            )
            if st is not None and st[3] == f.get("step") and quiet:
                st[2] += 1
                return
            if st is not None and st[2]:
                message += f" repeated={st[2]}"
            since = st[0] if st is not None else now
            self.failing[key] = [since, now, 0, f.get("step")]
            self.send(severity, message)
            return
        was = [st[0] for (name, _), st in self.failing.items() if name == lng]
        for k in [k for k in self.failing if k[0] == lng]:
            del self.failing[k]
        if was:
            message += f" recovered_after={now - min(was):.0f}s"
        self.send(severity, message)
