"""``s2s-agent run``: the observing daemon's loop, signals, control socket and persistence.

Single-threaded around one selector (the probes run in their own threads). Signal handlers
only set flags and wake the selector: SIGTERM/SIGINT stop cleanly, SIGHUP reloads the
config (an invalid new config is logged and the old one kept). The Azure SDK is never
imported here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import time

from . import __version__, render
from . import config as config_mod
from .alerts import AlertTracker, iso
from .atomic import read_json, write_atomic
from .config import Config
from .control import ControlServer
from .errors import S2SError, StateError
from .observer import Observer
from .syslogsend import SyslogSender

log = logging.getLogger(__name__)

STATE_VERSION = 1
PERSIST_EVERY = 60.0


class Daemon:
    def __init__(self, cfg: Config, *, observer: Observer | None = None,
                 sender: SyslogSender | None = None, clock=time.time):  # fmt: skip
        self.cfg = cfg
        self.clock = clock
        self.observer = observer or Observer(cfg, clock=clock)
        self.sender = sender or self._sender(cfg)
        self.tracker = AlertTracker(cfg.alerts.reminder_interval)
        self.started = clock()
        self.tunnels: list[dict] = []
        self.observed_at: float | None = None
        self.cycles = 0
        self.stop_requested = False
        self.reload_requested = False
        self._last_persist = 0.0
        self._persisted_key: object = None
        self.selector = selectors.DefaultSelector()
        self.control: ControlServer | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self.remedy_loop = None
        state = self._restore_state()
        if cfg.remediation.enabled:
            self.remedy_loop = self._make_remedy_loop(cfg, state.get("remediation") or {})

    def _make_remedy_loop(self, cfg: Config, saved: dict):
        from .remedyloop import RemedyLoop  # no Azure SDK: that runs in a worker process

        loop = RemedyLoop(cfg, notify=lambda sev, msg: self.sender.send(sev, msg),
                          clock=self.clock, previous_wan=saved.get("wan_ip"))  # fmt: skip
        loop.load(saved)
        return loop

    @staticmethod
    def _sender(cfg: Config) -> SyslogSender:
        a = cfg.alerts
        return SyslogSender(a.syslog_socket, facility=a.facility, tag=a.tag)

    # ---- state -------------------------------------------------------------------------
    def _restore_state(self) -> dict:
        try:
            data, _mtime = read_json(self.cfg.agent.state_file)
        except FileNotFoundError:
            return {}
        except StateError as exc:
            log.warning("ignoring persisted state: %s", exc)
            return {}
        if isinstance(data, dict) and data.get("version") == STATE_VERSION:
            self.tracker.load(data.get("alerts") or {})
            return data
        return {}

    def status(self, _req: dict | None = None) -> dict:
        return {
            "version": 1,
            "source": "daemon",
            "age_seconds": 0,
            "generated": iso(self.clock()),
            "agent": {
                "version": __version__,
                "pid": os.getpid(),
                "started": iso(self.started),
                "config": self.cfg.path,
                "interval": self.cfg.agent.interval,
                "sa_source": self.observer.source.kind,
                "error": self.observer.source_error,
                "log": self.observer.tailer.status() if self.observer.tailer else None,
                "cycles": self.cycles,
            },
            "tunnels": self.tunnels,
        }

    def persist(self, now: float, *, force: bool = False) -> None:
        key = [(t["name"], t["health"], tuple(t["reasons"])) for t in self.tunnels]
        rem = self.remedy_loop.to_dict() if self.remedy_loop else None
        if rem:
            key.append((rem["applied_ip"], rem["wan_ip"], len(rem["records"]),
                        tuple(r["ok"] for r in rem["records"])))  # fmt: skip
        if not force and key == self._persisted_key and now - self._last_persist < PERSIST_EVERY:
            return
        doc = {"version": STATE_VERSION, "saved": now, "status": self.status(),
               "alerts": self.tracker.to_dict(), "remediation": rem}  # fmt: skip
        try:
            os.makedirs(self.cfg.agent.state_dir, mode=0o700, exist_ok=True)
            write_atomic(self.cfg.agent.state_file, render.to_json(doc), mode=0o600)
        except (StateError, OSError) as exc:
            log.error("cannot persist state (will retry): %s", exc)
            return
        self._persisted_key, self._last_persist = key, now

    # ---- one cycle ---------------------------------------------------------------------
    def cycle(self) -> None:
        observed_at = self.clock()
        self.tunnels = self.observer.cycle()
        self.observed_at = observed_at
        self.cycles += 1
        now = self.clock()
        self.tracker.forget_except({t["name"] for t in self.tunnels})
        if self.remedy_loop is not None:
            self.remedy_loop.tick(self.tunnels, self.observed_at)
        for t in self.tunnels:
            for alert in self.tracker.update(t["name"], t["ike"], t["health"], t["reasons"], now):
                log.info("alert: %s", alert.message)
                self.sender.send(alert.severity, alert.message)
        self.persist(now)
        path = self.cfg.agent.metrics_textfile
        if path:
            try:
                write_atomic(path, render.metrics(self.status()), mode=0o644)
            except StateError as exc:
                log.error("cannot write metrics textfile: %s", exc)

    # ---- loop --------------------------------------------------------------------------
    def _on_signal(self, signum, _frame) -> None:
        if signum == signal.SIGHUP:
            self.reload_requested = True
        else:
            self.stop_requested = True

    def _drain_wake(self, _mask) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wake_r.recv(4096)

    def reload(self) -> None:
        self.reload_requested = False
        try:
            new = config_mod.load(self.cfg.path)
            from .azure_settings import check_credential_file

            check_credential_file(new)
        except S2SError as exc:
            log.error("reload refused, keeping the running config: %s", exc)
            self.sender.send("err", f"event=reload_failed error={exc}")
            return
        old_log = self.observer.tailer
        self.cfg = new
        observer = Observer(new, clock=self.clock, probes=self.observer.probes)
        if old_log is not None and observer.tailer is not None and old_log.path == observer.tailer.path:
            observer.tailer = old_log  # keep the position: no re-read, no missed lines
        observer.events = self.observer.events
        observer.since = self.observer.since
        self.observer = observer
        self.sender = self._sender(new)
        self.tracker.reminder_interval = new.alerts.reminder_interval
        self._swap_remedy_loop(new)
        logging.getLogger("s2s_agent").setLevel(new.agent.log_level.upper())
        log.info("configuration reloaded from %s", new.path)

    def _swap_remedy_loop(self, new: Config) -> None:
        old = self.remedy_loop
        if old is not None:
            old.remedy.wait(60)  # a running remediation finishes and is recorded first
        saved = old.to_dict() if old else {}
        if old is not None:
            self._unwatch(old)
            old.close()
        self.remedy_loop = self._make_remedy_loop(new, saved) if new.remediation.enabled else None
        self._watch(self.remedy_loop)

    def _watch(self, loop) -> None:
        if loop is not None and loop.fileno() is not None and self.control is not None:
            self.selector.register(loop.fileno(), selectors.EVENT_READ, self._on_address_event)

    def _unwatch(self, loop) -> None:
        if loop.fileno() is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(loop.fileno())

    def _on_address_event(self, _mask) -> None:
        loop = self.remedy_loop
        if loop is not None and loop.wan.wake():
            log.info("address change event: checking the WAN IP now")
            loop.tick(self.tunnels, self.observed_at)

    def _plan(self, _req: dict) -> dict:
        if self.remedy_loop is None:
            return {"enabled": False, "reason": "remediation disabled (remediation.enabled)"}
        loop = self.remedy_loop
        name = self.cfg.remediated_tunnel().name
        t = next((t for t in self.tunnels if t["name"] == name), {"health": "UNKNOWN"})
        role = "backup" if loop.role in ("backup", "unknown") else loop.role
        plan = loop.remedy.decide(t["health"], loop.wan.tracker.current, role)
        return {"enabled": True, "tunnel": name, "health": t["health"], "role": loop.role,
                "wan_ip": loop.wan.tracker.current, "running": loop.remedy.busy,
                "plan": plan.to_dict()}  # fmt: skip

    def _remediate(self, req: dict) -> dict:
        out = self._plan(req)
        loop = self.remedy_loop
        if loop is None or loop.remedy.busy:
            return {**out, "started": False}
        from .remediation import Plan

        plan = Plan(loop.remedy.last_plan.steps, loop.remedy.last_plan.reason)
        started = loop.remedy.start(plan, loop.wan.tracker.current)
        return {**out, "started": started}

    def run(self) -> int:
        from . import runlock  # one remediator per host: the one-shot mode takes it too
        from .azure_settings import check_credential_file

        check_credential_file(self.cfg)  # now, not at the first WAN change
        lock = runlock.acquire(self.cfg.agent.state_dir, wait=runlock.START_WAIT,
                               what="cannot start the daemon")  # fmt: skip
        try:
            return self._run()
        finally:
            lock.release()

    def _run(self) -> int:
        self.control = ControlServer(self.cfg.agent.control_socket,
                                     {"status": self.status, "ping": lambda _r: {"pong": True},
                                      "plan": self._plan, "remediate": self._remediate},
                                     self.selector)  # fmt: skip
        self._watch(self.remedy_loop)
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, self._drain_wake)
        old_wakeup = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        handlers = {s: signal.signal(s, self._on_signal)
                    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}  # fmt: skip
        log.info("s2s-agent %s started (pid %d, config %s, %d tunnel(s))",
                 __version__, os.getpid(), self.cfg.path, len(self.cfg.tunnels))  # fmt: skip
        try:
            next_cycle = time.monotonic()
            while not self.stop_requested:
                if self.reload_requested:
                    self.reload()
                    next_cycle = time.monotonic()
                if time.monotonic() >= next_cycle:
                    try:
                        self.cycle()
                    except Exception:  # never die on a bug in one cycle
                        log.exception("observation cycle failed")
                    next_cycle = max(next_cycle + self.cfg.agent.interval, time.monotonic())
                loop = self.remedy_loop
                if loop is not None and loop.wan.due() and self.cycles:
                    loop.tick(self.tunnels, self.observed_at)  # confirm a WAN change between cycles
                wake_at = min(next_cycle, loop.wan.next_poll) if loop is not None else next_cycle
                timeout = max(0.0, wake_at - time.monotonic())
                for key, mask in self.selector.select(timeout):
                    key.data(mask)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            for s, h in handlers.items():
                signal.signal(s, h)
            if self.remedy_loop is not None:
                self.remedy_loop.remedy.wait(30)  # let a running step finish and be recorded
            self.persist(self.clock(), force=True)
            self.control.close()
            log.info("s2s-agent stopped")
        return 0
