"""Alert decisions: one syslog line per health transition, reminders while it persists.

The message format is stable so admins can filter on it (documented in the README)::

    tunnel=<name> ike=<conn> health=<STATE> previous=<STATE> reasons=<r1,r2|-> event=<kind> since=<ISO>

``event`` is ``transition`` or ``reminder``. Severity: DOWN → ``err``, DEGRADED and
UNKNOWN → ``warning``, UP → ``notice``. This module only decides; the daemon sends.
"""

from __future__ import annotations

import math
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
    tunnel: str, ike: str, health: str, previous: str, reasons, event: str, since: float
) -> str:
    return (
        f"tunnel={tunnel} ike={ike} health={health} previous={previous} "
        f"reasons={','.join(reasons) or '-'} event={event} since={iso(since)}"
    )


@dataclass
class AlertTracker:
    """Remembers each tunnel's last health and decides which alerts to send."""

    reminder_interval: float = 1800.0
    states: dict[str, TunnelAlertState] = field(default_factory=dict)

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
        msg = format_message(tunnel, ike, health, previous, reasons, event, st.since)
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
