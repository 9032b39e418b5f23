"""``s2s-agent run``: the observing daemon's loop, signals and control socket.

One main thread around one selector; it never waits on a blocking call. What blocks runs
on worker threads and reports back through the wake-up socket: the SA fetch of each cycle
(VICI / swanctl / ipsec, bounded by ``strongswan.command_timeout``), the probes, the WAN and
CARP reads (:mod:`.remedyloop`), a remediation. So the control socket answers while any of
them hangs. Signal handlers only set flags and wake the selector: SIGTERM/SIGINT stop
cleanly (running commands such as a probe's ping are killed), SIGHUP reloads the config:
an invalid new config -- whatever the error -- is logged and the old one kept, and a
running remediation is never waited for (:mod:`.daemon_reload`). The persisted state is
:mod:`.daemon_state`. The Azure SDK is never imported here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import time

from . import __version__
from .config import Config
from .core import osio
from .core.atomic import write_atomic
from .core.background import Background
from .core.clock import iso
from .core.errors import StateError
from .daemon_reload import Reloading, tunnel_lngs
from .daemon_state import PERSIST_EVERY, STATE_VERSION, Persisting  # noqa: F401 -- re-exported
from .observe.observer import Observer
from .tell import render
from .tell.alerts import AlertTracker
from .tell.control import ControlServer
from .tell.syslogsend import QueuedSender, SyslogSender

log = logging.getLogger(__name__)


class Daemon(Persisting, Reloading):
    def __init__(
        self,
        cfg: Config,
        *,
        observer: Observer | None = None,
        sender: SyslogSender | QueuedSender | None = None,
        clock=time.time,
    ):
        self.cfg = cfg
        self.clock = clock
        self.observer = observer or Observer(cfg, clock=clock)
        self.sender = sender or self._sender(cfg)
        self.tracker = AlertTracker(cfg.alerts.reminder_interval)
        self.tracker.lngs = tunnel_lngs(cfg)
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
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._observing = Background("observe", self._wake)
        self._observe_again = False
        self._reloading = Background("reload", self._wake)
        self.remedy_loop = None
        self.run_lock = None  # held while run() runs; a reload may move it (agent.state_dir)
        # remediation disabled by a reload: the last loop, closed, keeps its memory (write
        # history per LNG, records) and any heal still running for the next enabling reload
        self._parked = None
        state = self._restore_state()
        if cfg.remediation.enabled:
            self.remedy_loop = self._make_remedy_loop(cfg, state.get("remediation") or {})

    def _make_remedy_loop(
        self, cfg: Config, saved: dict, *, background: bool = False, predecessor=None
    ):
        from .multiloop import MultiRemedyLoop, wants_multi
        from .remedyloop import RemedyLoop  # no Azure SDK: that runs in a worker process

        wan = saved.get("wan_ip")
        kind = MultiRemedyLoop if wants_multi(cfg) else RemedyLoop
        loop = kind(
            cfg,
            notify=lambda sev, msg: self.sender.send(sev, msg),
            clock=self.clock,
            previous_wan=wan if isinstance(wan, str) else None,
            background=background,
            wake=self._wake,
            predecessor=predecessor,
        )
        loop.load(saved)
        return loop

    def _wake(self) -> None:
        """Wake the main loop (from any thread): a background result is ready."""
        with contextlib.suppress(OSError):  # a full buffer already means "wake up"
            self._wake_w.send(b"\0")

    @staticmethod
    def _sender(cfg: Config) -> QueuedSender:
        a = cfg.alerts
        # queued: the main loop never waits on syslogd (its socket queue may be full)
        return QueuedSender(SyslogSender(a.syslog_socket, facility=a.facility, tag=a.tag))

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
            "tunnels": self._merged_tunnels(),
            "lngs": self.remedy_loop.lng_status() if self.remedy_loop is not None else [],
        }

    def _merged_tunnels(self) -> list[dict]:
        """The observer's tunnels, the remediated one merged with the remedy loop's records."""
        loop = self.remedy_loop
        if loop is None:
            return self.tunnels
        per = loop.tunnel_status()  # several Azure tunnels: one entry each
        return [{**t, **per[t["name"]]} if t["name"] in per else t for t in self.tunnels]

    # ---- one cycle ---------------------------------------------------------------------
    def cycle(self) -> None:
        """Observe once, inline (tests, one-shot commands); the daemon's loop runs the
        blocking fetch on a worker thread instead (:meth:`_start_observation`)."""
        observed_at = self.clock()
        self._complete_cycle(observed_at, self.observer.cycle())

    def _complete_cycle(self, observed_at: float, tunnels: list[dict]) -> None:
        self.tunnels = tunnels
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

    def _start_observation(self) -> None:
        observer, started = self.observer, self.clock()
        if not self._observing.start(lambda: (observer, started, observer.fetch())):
            log.warning("the previous SA fetch is still running; this cycle is skipped")

    def _collect_observation(self) -> None:
        done, value, error = self._observing.take()
        if not done:
            return
        if error is not None:
            log.error("SA fetch failed unexpectedly: %r", error)
            return
        observer, started, fetched = value
        if observer is not self.observer:  # reloaded meanwhile: observe again with the new one
            self._observe_again = True
            return
        try:
            self._complete_cycle(started, observer.cycle(fetched))
        except Exception:  # never die on a bug in one cycle
            log.exception("observation cycle failed")

    # ---- loop --------------------------------------------------------------------------
    def _on_signal(self, signum, _frame) -> None:
        if signum == signal.SIGHUP:
            self.reload_requested = True
        else:
            self.stop_requested = True

    def _drain_wake(self, _mask) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wake_r.recv(4096)

    def _on_address_event(self, _mask) -> None:
        loop = self.remedy_loop
        if loop is not None and loop.wake():  # the loop logs which interface and source
            loop.tick(self.tunnels, self.observed_at)

    def _wake_command(self, req: dict) -> dict:
        """``wake``: re-read every WAN source now (pfSense's ``plugin_gateway`` hook sends it
        on a gateway up/down); answers at once, the reads run on their worker threads."""
        reason = req.get("reason")
        reason = _printable(reason) if isinstance(reason, str) and reason else "no reason given"
        loop = self.remedy_loop
        if loop is None:
            log.info("wake (%s): remediation is off, nothing to read", reason)
            return {"woken": False, "reason": "remediation disabled (remediation.enabled)"}
        log.info("wake (%s): reading every WAN source now", reason)
        loop.wake_all()
        loop.kick()
        return {"woken": True}

    def _remediated_health(self) -> str:
        name = self.cfg.remediated_tunnel().name
        return next((t["health"] for t in self.tunnels if t["name"] == name), "UNKNOWN")

    def _plan(self, _req: dict) -> dict:
        if self.remedy_loop is None:
            return {"enabled": False, "reason": "remediation disabled (remediation.enabled)"}
        return self.remedy_loop.plan(self._remediated_health())  # a dry run: records nothing

    def _remediate(self, _req: dict) -> dict:
        if self.remedy_loop is None:
            return {
                "enabled": False,
                "reason": "remediation disabled (remediation.enabled)",
                "started": False,
            }
        return self.remedy_loop.remediate(self._remediated_health())

    def run(self) -> int:
        from .config.azure import check_credential_file
        from .core import runlock  # one remediator per host: the one-shot mode takes it too

        check_credential_file(self.cfg)  # now, not at the first WAN change
        self.run_lock = runlock.acquire(
            self.cfg.agent.state_dir, wait=runlock.START_WAIT, what="cannot start the daemon"
        )
        try:
            return self._run()
        finally:
            self.run_lock.release()  # the one a reload moved it to, if it did
            self.run_lock = None

    def _run(self) -> int:
        self.control = ControlServer(
            self.cfg.agent.control_socket,
            {
                "status": self.status,
                "ping": lambda _r: {"pong": True},
                "plan": self._plan,
                "remediate": self._remediate,
                "wake": self._wake_command,
            },
            self.selector,
        )
        if self.remedy_loop is not None:
            self.remedy_loop.use_background(self._wake)
        self._watch(self.remedy_loop)
        self.selector.register(self._wake_r, selectors.EVENT_READ, self._drain_wake)
        old_wakeup = signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        handlers = {
            s: signal.signal(s, self._on_signal)
            for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        }
        log.info(
            "s2s-agent %s started (pid %d, config %s, %d tunnel(s))",
            __version__,
            os.getpid(),
            self.cfg.path,
            len(self.cfg.tunnels),
        )
        try:
            next_cycle = time.monotonic()
            while not self.stop_requested:
                try:
                    next_cycle = self._turn(next_cycle)
                    wake_at = self._wake_at(next_cycle)
                except Exception:  # a bug in one turn must not end the daemon
                    log.exception("main loop turn failed")
                    wake_at = time.monotonic() + 1.0
                for key, mask in self.selector.select(max(0.0, wake_at - time.monotonic())):
                    try:
                        key.data(mask)
                    except Exception:
                        log.exception("event handler failed")
        finally:
            self._shutdown(old_wakeup, handlers)
        return 0

    def _turn(self, next_cycle: float) -> float:
        """One pass of the main loop (never blocks); returns the next cycle's time."""
        if self.reload_requested:
            self._start_reload()  # the file is read and checked on a worker thread
        if self._collect_reload():
            next_cycle = time.monotonic()
        self._collect_observation()
        if self._observe_again:
            self._observe_again, next_cycle = False, time.monotonic()
        now = time.monotonic()
        if now >= next_cycle:
            self._start_observation()
            next_cycle = max(next_cycle + self.cfg.agent.interval, now)
        loop = self.remedy_loop
        if loop is not None:
            if loop.collect() and self.cycles:
                loop.tick(self.tunnels, self.observed_at)  # a WAN/CARP read came back
            loop.kick()
        assert self.control is not None
        self.control.sweep()
        return next_cycle

    def _wake_at(self, next_cycle: float) -> float:
        times = [next_cycle]
        if self.remedy_loop is not None:
            times.append(self.remedy_loop.next_wake())
        assert self.control is not None
        if self.control.next_deadline() is not None:
            times.append(self.control.next_deadline())
        return min(times)

    def _shutdown(self, old_wakeup: int, handlers: dict) -> None:
        signal.set_wakeup_fd(old_wakeup)
        for s, h in handlers.items():
            signal.signal(s, h)
        loop = self.remedy_loop or self._parked  # a heal may outlive a disabling reload
        if loop is not None and loop.busy:
            log.info("waiting up to 30s for the running remediation step to be recorded")
            deadline = time.monotonic() + 30
            while loop.busy and time.monotonic() < deadline:
                loop.wait(0.2)
        killed = osio.kill_running()  # a probe's ping, a hung command: nothing outlives us
        if killed:
            log.info("stopped %d running command(s)", killed)
        self.observer.probes.wait(2)
        self.persist(self.clock(), force=True)
        assert self.control is not None
        self.control.close()
        if loop is not None:
            loop.close()
        if self.observer.tailer is not None:
            self.observer.tailer.close()
        self.sender.close()
        log.info("s2s-agent stopped")


def _printable(text: str, limit: int = 200) -> str:
    """A client's free text made safe for one log line."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])
