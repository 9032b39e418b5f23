"""The daemon's persisted state (``agent.state_dir/state.json``, :mod:`.core.statefile`).

:class:`Persisting` is the part of :class:`~.daemon.Daemon` that restores the alert memory
at start (a bad file is set aside, never fatal) and writes the status, the alert memory and
the remediation memory: when any of them changed, else at least every ``PERSIST_EVERY``
seconds, and always at a forced write (stop, a reload that moves ``agent.state_dir``).
A write that fails is logged and retried at the next cycle.
"""

from __future__ import annotations

import logging
import os

from .core import statefile
from .core.atomic import write_atomic
from .core.errors import StateError
from .tell import render

log = logging.getLogger("s2s_agent.daemon")

STATE_VERSION = statefile.STATE_VERSION
PERSIST_EVERY = 60.0


class Persisting:
    """State of :class:`~.daemon.Daemon` (its ``cfg``, ``clock``, ``tracker``, ``tunnels``,
    ``remedy_loop``/``_parked``, ``status()``; ``_persisted_key``, ``_last_persist``)."""

    def _restore_state(self) -> dict:
        path = self.cfg.agent.state_file
        try:
            data = statefile.load(path)
        except FileNotFoundError:
            return {}
        except StateError as exc:
            moved = statefile.set_aside(path, clock=self.clock)
            log.warning(
                "ignoring persisted state: %s%s", exc, f"; kept as {moved}" if moved else ""
            )
            return {}
        self.tracker.load(data.get("alerts") or {})
        return data

    def persist(self, now: float, *, force: bool = False) -> None:
        key = [(t["name"], t["health"], tuple(t["reasons"])) for t in self.tunnels]
        loop = self.remedy_loop or self._parked
        rem = loop.to_dict() if loop else None
        if rem:
            key.append(
                (
                    rem["applied_ip"],
                    rem["wan_ip"],
                    len(rem["records"]),
                    tuple(r["ok"] for r in rem["records"]),
                )
            )
        if not force and key == self._persisted_key and now - self._last_persist < PERSIST_EVERY:
            return
        doc = {
            "version": STATE_VERSION,
            "saved": now,
            "status": self.status(),
            "alerts": self.tracker.to_dict(),
            "remediation": rem,
        }
        try:
            os.makedirs(self.cfg.agent.state_dir, mode=0o700, exist_ok=True)
            write_atomic(self.cfg.agent.state_file, render.to_json(doc), mode=0o600)
        except (StateError, OSError) as exc:
            log.error("cannot persist state (will retry): %s", exc)
            return
        self._persisted_key, self._last_persist = key, now
