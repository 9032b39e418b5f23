"""One observation cycle: SA snapshot + new log lines + probe results → tunnel status.

No sockets, signals or files of its own: the daemon owns those. The probes run in
background threads (one per tunnel at a time) so a dead tunnel's slow ping never delays
the cycle or the control socket; a cycle uses the newest finished probe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from ..config import Config, TunnelSettings
from ..core.clock import iso
from ..core.errors import S2SError
from ..core.model import SaSnapshot
from ..decide import health as H
from .logwatch import LogTailer
from .parsers import classify_line
from .probe import ProbeResult, run_probe
from .sources import SaSource

log = logging.getLogger(__name__)

MAX_EVENTS = 500
EVENTS_SHOWN = 10


class ProbeScheduler:
    """Runs each tunnel's probe in a thread; keeps the newest finished result."""

    WINDOW = 3  # probes whose packets are pooled for the partial-loss decision

    def __init__(self, run: Callable[..., ProbeResult] = run_probe):
        self.run = run
        self.results: dict[str, tuple[float, ProbeResult]] = {}
        self.history: dict[str, deque[tuple[float, ProbeResult]]] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def kick(self, tunnel: TunnelSettings, clock: Callable[[], float]) -> None:
        p = tunnel.probe
        if p is None:
            return
        t = self._threads.get(tunnel.name)
        if t is not None and t.is_alive():
            return

        started = clock()

        def work(name=tunnel.name):
            try:
                res = self.run(p.source, p.target, p.count, p.timeout)
            except Exception as exc:  # run_probe reports errors in the result; be safe anyway
                log.exception("probe for %s crashed", name)
                res = ProbeResult(
                    target=p.target,
                    source=p.source,
                    sent=p.count,
                    received=0,
                    loss=1.0,
                    error=f"probe crashed: {exc}",
                )
            with self._lock:
                self.results[name] = (started, res)
                self.history.setdefault(name, deque(maxlen=self.WINDOW)).append((started, res))

        t = threading.Thread(target=work, name=f"probe-{tunnel.name}", daemon=True)
        self._threads[tunnel.name] = t
        t.start()

    def latest(self, name: str) -> tuple[float, ProbeResult] | None:
        with self._lock:
            return self.results.get(name)

    def window(self, name: str, since: float | None) -> tuple[int, int]:
        """(sent, received) of the last probes that started at or after ``since``."""
        with self._lock:
            got = [r for t, r in self.history.get(name, ()) if since is None or t >= since]
        return sum(r.sent for r in got), sum(r.received for r in got)

    def wait(self, timeout: float) -> None:
        """Wait for running probes (tests and the one-shot commands)."""
        deadline = time.monotonic() + timeout
        for t in list(self._threads.values()):
            t.join(max(0.0, deadline - time.monotonic()))


class Observer:
    def __init__(
        self,
        cfg: Config,
        *,
        source: SaSource | None = None,
        tailer: LogTailer | None = None,
        probes: ProbeScheduler | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.cfg = cfg
        self.clock = clock
        self.source = source or SaSource(cfg.strongswan)
        log_file = cfg.strongswan.log_file
        self.tailer = tailer if tailer is not None else (LogTailer(log_file) if log_file else None)
        self.probes = probes or ProbeScheduler()
        self.events: deque[H.SeenEvent] = deque(maxlen=MAX_EVENTS)
        self.snapshot: SaSnapshot | None = None
        self.source_error: str | None = None
        self.since: dict[str, tuple[str, float]] = {}
        self._last_warnings: tuple[str, ...] = ()

    def read_log(self, now: float) -> int:
        if self.tailer is None:
            return 0
        lines = self.tailer.poll()
        for line in lines:
            ev = classify_line(line)
            if ev.kind != "other":
                self.events.append(H.SeenEvent(now, ev.kind, ev.conn, ev.time, ev.message))
        return len(lines)

    def fetch(self) -> tuple[SaSnapshot | None, str | None]:
        """Ask strongSwan for the SAs: (snapshot, None) or (None, why). The only blocking
        part of a cycle (bounded by ``strongswan.command_timeout``): the daemon runs it on a
        worker thread and hands the result to :meth:`cycle`."""
        try:
            return self.source.fetch(), None
        except S2SError as exc:
            log.warning("SA source: %s", exc)
            return None, str(exc)
        except Exception as exc:  # a parser bug on odd output: UNKNOWN with the cause, not a crash
            log.exception("SA source failed unexpectedly")
            return None, f"internal error reading the SAs: {type(exc).__name__}: {exc}"

    def cycle(self, fetched: tuple[SaSnapshot | None, str | None] | None = None) -> list[dict]:
        """Observe once and return the status entry of every tunnel (``fetched``: the result
        of :meth:`fetch` when it already ran, else it runs here)."""
        now = self.clock()
        self.snapshot, self.source_error = fetched if fetched is not None else self.fetch()
        if self.snapshot is not None:
            self._log_warnings(self.snapshot)
        try:
            self.read_log(now)
        except Exception:  # the tailer reports its own trouble in status(); never stop
            log.exception("reading the charon log failed")
        out = [self._tunnel(t, now) for t in self.cfg.tunnels]
        for t in self.cfg.tunnels:
            self.probes.kick(t, self.clock)
        return out

    def _log_warnings(self, snap: SaSnapshot) -> None:
        """A partly read snapshot is logged when what was skipped changes (not each cycle)."""
        warnings = getattr(snap, "warnings", ())
        if warnings and warnings != self._last_warnings:
            log.warning(
                "SA source: %d line(s) of strongSwan's output could not be read; first: %s",
                len(warnings),
                warnings[0],
            )
        self._last_warnings = warnings

    def _probe_for(self, t: TunnelSettings, established_at: float | None):
        got = self.probes.latest(t.name)
        if got is None:
            return None, None
        started, res = got
        # a probe sent before the SA (re-)established says nothing about the new SA
        # (established_seconds is whole seconds: a probe within 1 s of it is not trusted)
        since = None if established_at is None else established_at + 1
        if since is not None and started < since:
            return None, res
        w_sent, w_received = self.probes.window(t.name, since)
        return H.ProbeView(res.sent, res.received, res.error, w_sent, w_received), res

    def _tunnel(self, t: TunnelSettings, now: float) -> dict:
        snap = self.snapshot
        ike = H.pick_ike(snap, t.ike) if snap is not None else None
        est = ike.established_seconds if ike is not None and ike.state == "ESTABLISHED" else None
        view, res = self._probe_for(t, now - est if est is not None else None)
        a = H.assess(
            t.ike,
            t.children,
            snap,
            list(self.events),
            view,
            now,
            event_window=self.cfg.health.event_window,
            probe_loss_degraded=self.cfg.health.probe_loss_degraded,
        )
        prev = self.since.get(t.name)
        if prev is None or prev[0] != a.health:
            self.since[t.name] = (a.health, now)
        kids = [c for c in a.children.values() if c is not None]

        def total(attr):
            vals = [getattr(c, attr) for c in kids if getattr(c, attr) is not None]
            return sum(vals) if vals else None

        events = [e for e in self.events if e.conn == t.ike][-EVENTS_SHOWN:]
        return {
            "name": t.name,
            "ike": t.ike,
            "children": list(t.children),
            "health": a.health,
            "reasons": list(a.reasons),
            "since": iso(self.since[t.name][1]),
            "error": self.source_error if snap is None else _unreadable(snap, a.reasons),
            "ike_state": a.ike.state if a.ike else None,
            "child_states": {n: (c.state if c else None) for n, c in a.children.items()},
            "established_seconds": est,
            "local_host": a.ike.local_host if a.ike else None,
            "remote_host": a.ike.remote_host if a.ike else None,
            "local_id": a.ike.local_id if a.ike else None,
            "remote_id": a.ike.remote_id if a.ike else None,
            "bytes_in": total("bytes_in"),
            "bytes_out": total("bytes_out"),
            "packets_in": total("packets_in"),
            "packets_out": total("packets_out"),
            "probe": _probe_dict(res),
            "events": [
                {
                    "time": e.time,
                    "conn": e.conn,
                    "kind": e.kind,
                    "message": e.message,
                    "seen": iso(e.seen),
                }
                for e in events
            ],
            "azure": None,
            "remediations": [],
        }


def _unreadable(snap: SaSnapshot, reasons: tuple[str, ...]) -> str | None:
    """Why the state is UNKNOWN although the source answered: the parser's warnings."""
    if "sa_unreadable" not in reasons:
        return None
    shown = "; ".join(snap.warnings[:3])
    more = f" (+{len(snap.warnings) - 3} more)" if len(snap.warnings) > 3 else ""
    return f"part of strongSwan's output could not be read: {shown}{more}"


def _probe_dict(res: ProbeResult | None) -> dict | None:
    if res is None:
        return None
    return {
        "source": res.source,
        "target": res.target,
        "sent": res.sent,
        "received": res.received,
        "loss": res.loss,
        "rtt_avg_ms": res.rtt_avg,
        "error": res.error,
        "detail": res.detail,
        "time": iso(res.time) if isinstance(res.time, int | float) else res.time,
    }
