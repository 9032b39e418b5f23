"""The daemon's reload (SIGHUP): read and check the new config, then swap it in.

The file is read and its credential file checked on a worker thread (:func:`load_checked`);
the main thread then swaps in a new observer and sender, keeps the charon log's position
when the log file is the same, moves the run lock when ``agent.state_dir`` changed, and
swaps the remedy loop without waiting for a running remediation (the new loop adopts it;
a loop a reload disables is parked with its memory for the next enabling reload). Any
failure refuses the reload with one ``event=reload_failed`` line and keeps the running
config. :class:`Reloading` is the part of :class:`~.daemon.Daemon` that does this.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors

from . import config as config_mod
from .config import Config
from .core import runlock
from .core.errors import S2SError
from .observe.observer import Observer

log = logging.getLogger("s2s_agent.daemon")


class Reloading:
    """Reload of :class:`~.daemon.Daemon` (its attributes: ``cfg``, ``observer``,
    ``sender``, ``tracker``, ``remedy_loop``, ``_parked``, ``run_lock``, ...)."""

    def reload(self) -> None:
        """Re-read the config now (inline; the daemon's loop reads it on a worker thread)."""
        self.reload_requested = False
        try:
            new = load_checked(self.cfg.path)
        except Exception as exc:  # ConfigError, or anything a bad file can still cause
            self._refuse_reload(exc)
            return
        self._apply_config(new)

    def _start_reload(self) -> None:
        path = self.cfg.path
        if self._reloading.start(lambda: load_checked(path)):
            self.reload_requested = False  # else: still reading the last one; read again after

    def _collect_reload(self) -> bool:
        done, new, error = self._reloading.take()
        if not done:
            return False
        if error is not None:
            self._refuse_reload(error)
            return False
        return self._apply_config(new)

    def _refuse_reload(self, exc: BaseException) -> None:
        why = str(exc) if isinstance(exc, S2SError) else f"{type(exc).__name__}: {exc}"
        log.error("reload refused, keeping the running config: %s", why)
        self.sender.send("err", f"event=reload_failed error={why}")

    def _apply_config(self, new: Config) -> bool:
        """Swap in a loaded config without waiting for anything; False if refused."""
        try:
            lock = self._new_run_lock(new)
        except Exception as exc:  # held by another s2s-agent, or not openable
            self._refuse_reload(exc)
            return False
        try:
            observer = Observer(new, clock=self.clock, probes=self.observer.probes)
            sender = self._sender(new)
        except Exception as exc:
            if lock is not None:
                lock.release()
            self._refuse_reload(exc)
            return False
        old_log, old_sender = self.observer.tailer, self.sender
        if (
            old_log is not None
            and observer.tailer is not None
            and old_log.path == observer.tailer.path
        ):
            observer.tailer.close()
            observer.tailer = old_log  # keep the position: no re-read, no missed lines
        elif old_log is not None:
            old_log.close()
        observer.events = self.observer.events
        observer.since = self.observer.since
        old_dir = self.cfg.agent.state_dir
        self.cfg = new
        self.observer = observer
        self.sender = sender
        old_sender.close()
        self.tracker.reminder_interval = new.alerts.reminder_interval
        self.tracker.lngs = tunnel_lngs(new)
        self._swap_remedy_loop(new)
        logging.getLogger("s2s_agent").setLevel(new.agent.log_level.upper())
        if lock is not None:
            self.run_lock.release()
            self.run_lock = lock
            log.info(
                "agent.state_dir moved from %s to %s: the run lock and state.json are there "
                "now (the old directory is left as it is)",
                old_dir,
                new.agent.state_dir,
            )
            self.persist(self.clock(), force=True)  # the memory goes along at once
        log.info("configuration reloaded from %s", new.path)
        return True

    def _new_run_lock(self, new: Config) -> runlock.RunLock | None:
        """The run lock in the new ``agent.state_dir`` when the reload moves it (taken before
        the old one is released: no moment without a lock); None when nothing moves."""
        old = self.run_lock
        if old is None or _same_dir(self.cfg.agent.state_dir, new.agent.state_dir):
            return None
        return runlock.acquire(
            new.agent.state_dir,
            what=f"cannot move agent.state_dir to {new.agent.state_dir} (kept {old.path})",
        )

    def _swap_remedy_loop(self, new: Config) -> None:
        """A running remediation goes on; the new loop adopts it when it ends (no wait)."""
        old, parked = self.remedy_loop, self._parked
        if old is not None:
            self._unwatch(old)
            old.close()
        else:
            old = parked  # disabled before: its memory (and a heal it still runs) comes back
        running = old.running() if old is not None else None
        saved = old.to_dict() if old else {}
        background = self.control is not None
        self.remedy_loop = self._parked = None
        if new.remediation.enabled:
            self.remedy_loop = self._make_remedy_loop(
                new, saved, background=background, predecessor=running
            )
        else:
            self._parked = old
            if running is not None:
                log.info("remediation disabled by the reload; the running one finishes on its own")
        self._watch(self.remedy_loop)

    def _watch(self, loop) -> None:
        if loop is not None and loop.fileno() is not None and self.control is not None:
            self.selector.register(loop.fileno(), selectors.EVENT_READ, self._on_address_event)

    def _unwatch(self, loop) -> None:
        if loop.fileno() is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(loop.fileno())


def _same_dir(a: str, b: str) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def tunnel_lngs(cfg: Config) -> dict[str, str]:
    """tunnel -> its Azure LNG's name, for the alert lines (``lng=``)."""
    return {t.name: t.azure.local_network_gateway for t in cfg.azure_tunnels()}


def load_checked(path: str) -> Config:
    """Load the config and check its credential file with the rules of its use (a reload
    with a missing or too open credential file keeps the running config)."""
    from .config.azure import check_credential_file

    new = config_mod.load(path)
    check_credential_file(new)
    return new
