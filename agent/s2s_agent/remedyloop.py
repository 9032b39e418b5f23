"""Remediation inside the daemon: WAN watching, CARP role, planner, executor, Azure's view.

The daemon calls :meth:`RemedyLoop.tick` after each observation cycle, whenever the
address-change event socket wakes it (so a WAN change is seen within a second, not at
the next cycle) and when a background read finished. Azure's view of the connection is
read by the worker process every ``remediation.azure_status_interval`` seconds in a
background thread.

With ``background=True`` (the daemon) the blocking reads -- the WAN IP (``ifconfig``/``ip``
or the HTTP quorum) and the CARP state (``ifconfig``) -- run on worker threads
(:class:`~s2s_agent.core.background.Background`): :meth:`RemedyLoop.kick` starts the due ones,
:meth:`RemedyLoop.collect` takes their results, the main loop never waits. Without it
(one-shot commands, tests) they run inline. After a reload the new loop inherits the old
one's running remediation (``predecessor``): it starts nothing until that one finished,
then adopts its memory (records, Azure writes, attempts), so a reload never waits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .act import lngmemory
from .act.azureworker import AzureWorker
from .act.executor import Remediator
from .config import Config
from .core.background import Background
from .core.clock import iso
from .core.errors import S2SError
from .decide.plan import Plan
from .decide.wan import WanTracker
from .observe.ha import carp_role, wan_reader
from .observe.wanwatch import open_events, read_wan_ip

log = logging.getLogger(__name__)

ROLE_REFRESH = 5.0  # seconds between CARP state reads
READ_GUARD = 120.0  # a background read never takes this long (each has its own deadline)


class WanMonitor:
    """Polls the WAN IP (every ``poll_interval``, sooner while a change is pending or after
    an address event) through the hysteresis tracker."""

    def __init__(
        self,
        settings,
        previous: str | None,
        *,
        read=read_wan_ip,
        monotonic: Callable[[], float] = time.monotonic,
        background: Background | None = None,
    ):
        self.settings = settings
        self.read = read
        self.monotonic = monotonic
        self.tracker = WanTracker(settings.hold_seconds, settings.hold_count, previous)
        self.events = open_events(settings.interface) if settings.source == "interface" else None
        self.next_poll = 0.0
        self.last_reason = ""
        self.observed: str | None = None
        self.bg = background
        self._inflight = False  # a background read was started and not yet collected
        self._reread = False  # an address event came while it was in flight: read again

    def due(self) -> bool:
        return self.monotonic() >= self.next_poll and not (self.bg is not None and self.bg.busy)

    def wake(self) -> bool:
        """Drain the event socket; True if the WAN address may have changed."""
        if self.events is not None and self.events.drain():
            self.next_poll = 0.0
            # a read already in flight may have read the old address: its result must not
            # push the next read out to poll_interval (the event would be lost until then)
            self._reread = self._inflight
            return True
        return False

    def poll(self) -> str | None:
        """Read the WAN IP now (blocking) and feed the tracker."""
        ip, reason = self.read(self.settings)
        self._observe(ip, reason)
        return self.tracker.current

    def start_poll(self) -> bool:
        """Start a background read when one is due (needs ``background``)."""
        if self.bg is None or not self.due():
            return False
        self.next_poll = self.monotonic() + READ_GUARD  # rescheduled when the result is in
        settings, read = self.settings, self.read
        self._inflight = self.bg.start(lambda: read(settings))
        return self._inflight

    def collect(self) -> bool:
        """Take a finished background read into the tracker; True if there was one."""
        if self.bg is None:
            return False
        done, value, error = self.bg.take()
        if not done:
            return False
        if error is not None:
            log.error("reading the WAN IP failed unexpectedly: %r", error)
            value = (None, f"WAN IP read failed: {type(error).__name__}: {error}")
        self._observe(*value)
        self._inflight = False
        if self._reread:
            self._reread = False
            self.next_poll = 0.0
        return True

    def _observe(self, ip: str | None, reason: str) -> None:
        now = self.monotonic()
        self.observed, self.last_reason = ip, reason
        d = self.tracker.observe(ip, now)
        if ip is None:
            log.warning("WAN IP unknown: %s", reason)
        pending = d.candidate is not None
        step = max(0.2, min(self.settings.hold_seconds / max(1, self.settings.hold_count), 1.0))
        self.next_poll = now + (step if pending else self.settings.poll_interval)
        if d.changed:
            log.info("WAN IP confirmed: %s -> %s", d.old, d.current)

    def next_wake(self) -> float:
        """When the main loop must come back for this monitor (a monotonic time)."""
        return float("inf") if self.bg is not None and self.bg.busy else self.next_poll

    def close(self) -> None:
        if self.events is not None:
            self.events.close()


class RemedyLoop:
    def __init__(
        self,
        cfg: Config,
        *,
        notify: Callable[[str, str], None],
        clock: Callable[[], float] = time.time,
        previous_wan: str | None = None,
        worker: AzureWorker | None = None,
        background: bool = False,
        wake: Callable[[], None] | None = None,
        predecessor: RemedyLoop | None = None,
    ):
        self.cfg = cfg
        self.clock = clock
        lng = lngmemory.lng_id(cfg.azure.lng_key) if cfg.azure is not None else None
        self.worker = worker or AzureWorker(cfg.path, lng=lng)  # the LNG planned for
        self.remedy = Remediator(cfg, worker=self.worker, clock=clock, notify=notify)
        self.wan = WanMonitor(
            cfg.wan,
            previous_wan,
            read=wan_reader(cfg),
            background=Background("wan-read", wake) if background else None,
        )
        r = cfg.remediation
        self.carp = bool(r.carp_interface and r.carp_vhid is not None)
        # until CARP was read this node acts like a BACKUP: it must never act as standalone
        self.role, self.role_why = (
            ("unknown", "CARP state not read yet") if self.carp else ("standalone", "")
        )
        self._role_bg = Background("carp-read", wake) if background else None
        self._role_next = 0.0
        self._azure_next = 0.0
        self._azure_thread: threading.Thread | None = None
        self.predecessor = predecessor
        self.dormant: dict[str, dict] = {}  # LNGs the config no longer names (lngmemory)

    def fileno(self) -> int | None:
        return self.wan.events.fileno() if self.wan.events is not None else None

    def use_background(self, wake: Callable[[], None]) -> None:
        """From now on run the WAN and CARP reads on worker threads (the daemon's loop)."""
        self.wan.bg = Background("wan-read", wake)
        self._role_bg = Background("carp-read", wake)

    @property
    def busy(self) -> bool:
        """A remediation runs (this loop's, or the one still running from before a reload,
        of either loop kind: a reload may switch between one Azure tunnel and several)."""
        return self.remedy.busy or (self.predecessor is not None and self.predecessor.busy)

    def lng_remediators(self) -> dict:
        """LNG key -> the :class:`Remediator` holding that LNG's memory."""
        return {self.cfg.azure.lng_key: self.remedy} if self.cfg.azure is not None else {}

    def to_dict(self) -> dict:
        lngs = self.lng_remediators()
        return {
            **self.remedy.to_dict(),
            "lng_key": lngmemory.lng_id(next(iter(lngs))) if lngs else None,
            "lngs": lngmemory.export(lngs, self.dormant),
            "tunnel_ips": {self.tunnel: self.remedy.applied_ip},  # whose local id is applied
            "wan_ip": self.wan.tracker.current,
            "azure_view": self.remedy.azure_view,
        }

    def load(self, data: dict) -> None:
        """Each LNG's memory from either loop's ``to_dict`` or state.json, by LNG key."""
        if not isinstance(data, dict):
            return
        main = self.cfg.azure.lng_key if self.cfg.azure is not None else None
        self.dormant = lngmemory.load_all(self.lng_remediators(), data, main, self.clock())
        mine = lngmemory.lng_id(main) if main else None
        if isinstance(data.get("azure_view"), dict) and data.get("lng_key") in (None, mine):
            self.remedy.azure_view = data["azure_view"]

    def _adopt(self) -> None:
        """After a reload: take over the memory of the old loop once its remediation ended."""
        old = self.predecessor
        if old is None or old.busy:
            return
        self.predecessor = None
        self.load(old.to_dict())
        lngmemory.keep_plans(self.lng_remediators(), old.lng_remediators())
        old.close()

    # ---- the blocking reads ------------------------------------------------------------
    def refresh_role(self) -> None:
        """Read the CARP state now (blocking; one-shot commands)."""
        r = self.cfg.remediation
        self.role, self.role_why = carp_role(r.carp_interface, r.carp_vhid)
        self._role_next = time.monotonic() + ROLE_REFRESH

    def current_role(self) -> str:
        """The role to plan with (BACKUP for unknown). Inline mode (one-shot commands) reads
        the CARP state first when due; background mode never blocks here."""
        if self._role_bg is None and time.monotonic() >= self._role_next:
            self.refresh_role()
        return "backup" if self.role in ("backup", "unknown") else self.role

    def kick(self) -> None:
        """Start the background reads that are due (background mode; never blocks)."""
        self.wan.start_poll()
        if self._role_due():
            r = self.cfg.remediation
            self._role_next = time.monotonic() + READ_GUARD
            self._role_bg.start(lambda: carp_role(r.carp_interface, r.carp_vhid))

    def _role_due(self) -> bool:
        bg = self._role_bg  # no thread at all without CARP: the answer is always standalone
        return self.carp and bg is not None and not bg.busy and time.monotonic() >= self._role_next

    def collect(self) -> bool:
        """Take finished background reads; True if anything new arrived."""
        got = self.wan.collect()
        if self._role_bg is not None:
            done, value, error = self._role_bg.take()
            if done:
                if error is not None:
                    value = (
                        "unknown",
                        f"reading the CARP state failed: {type(error).__name__}: {error}",
                    )
                self.role, self.role_why = value
                self._role_next = time.monotonic() + ROLE_REFRESH
                got = True
        return got

    def next_wake(self) -> float:
        """When the main loop must come back (a monotonic time)."""
        role = (
            self._role_next
            if self.carp and self._role_bg is not None and not self._role_bg.busy
            else float("inf")
        )
        return min(self.wan.next_wake(), role)

    # ---- deciding ----------------------------------------------------------------------
    def tick(self, tunnels: list[dict], observed_at: float | None = None) -> None:
        """Decide (and maybe start) a remediation (``tunnels`` is read, never written).

        ``observed_at`` (wall clock) is when ``tunnels`` were observed: health seen before the
        last remediation finished says nothing about its result, so no new plan acts on it.
        """
        self._adopt()
        if self.wan.bg is None:
            if self.wan.due():
                self.wan.poll()
            self.current_role()  # `ifconfig` at most every few seconds
        else:
            self.collect()
            self.kick()
        name = self.cfg.remediated_tunnel().name
        entry = next((t for t in tunnels if t["name"] == name), None)
        if entry is None:
            return
        wan_ip = self.wan.tracker.current
        finished = self.remedy.last_finished
        stale = observed_at is not None and finished is not None and observed_at < finished
        if not self.busy and self.predecessor is None:
            role = "backup" if self.role in ("backup", "unknown") else self.role
            # stale health may still drive a WAN-change heal, but never the DOWN ladder
            plan = self.remedy.decide("UNKNOWN" if stale else entry["health"], wan_ip, role)
            if plan.steps:
                self.remedy.start(plan, wan_ip)
        self._maybe_read_azure()

    # ---- the daemon's interface: status, plan, remediate, reload -------------------------
    @property
    def tunnel(self) -> str:
        """The name of the remediated tunnel."""
        return self.cfg.remediated_tunnel().name

    def status(self) -> dict:
        """The remediated tunnel's remediation records; the daemon merges them into its entry
        of the status document (this loop never writes into the observer's data)."""
        plan = self.remedy.last_plan
        mem = self.remedy.to_dict()
        remediation = {
            "enabled": self.cfg.remediation.enabled,
            "role": self.role,
            "role_detail": self.role_why,
            "wan_ip": self.wan.tracker.current,
            "wan_candidate": self.wan.tracker.candidate,
            "wan_error": self.wan.last_reason or None,
            "applied_ip": mem["applied_ip"],
            "lng_ip": mem["lng_ip"],
            "running": self.busy,
            "plan": plan.to_dict() if plan else None,
            "azure_writes_last_hour": len(self.remedy.history.writes_last_hour(self.clock())),
        }
        return {
            "remediation": remediation,
            "remediations": list(reversed(mem["records"])),
            "azure": self.remedy.azure_view,
        }

    def tunnel_status(self) -> dict[str, dict]:
        """:meth:`status` by tunnel name (the multi-tunnel loop has one entry per tunnel)."""
        return {self.tunnel: self.status()}

    def plan(self, health: str, *, dry_run: bool = True) -> dict:
        """The plan for ``health`` now; recorded in the memory only when not ``dry_run``."""
        wan_ip = self.wan.tracker.current
        plan = self.remedy.decide(health, wan_ip, self.current_role(), dry_run=dry_run)
        return {
            "enabled": True,
            "tunnel": self.tunnel,
            "health": health,
            "role": self.role,
            "wan_ip": wan_ip,
            "running": self.busy,
            "plan": plan.to_dict(),
        }

    def remediate(self, health: str) -> dict:
        """Plan and start the plan now (not while a remediation runs, also one from before a
        reload); ``started`` says whether it did."""
        may = not self.busy and self.predecessor is None
        out = self.plan(health, dry_run=not may)  # recorded only when it may run
        if not may:
            return {**out, "started": False}
        last = self.remedy.last_plan
        started = self.remedy.start(Plan(last.steps, last.reason), self.wan.tracker.current)
        return {**out, "started": started}

    def running(self) -> RemedyLoop | None:
        """For a reload: the loop whose remediation still runs (this one or the one before)."""
        if self.remedy.busy:
            return self
        return self.predecessor if self.busy else None

    def wake(self) -> bool:
        """An address-change event arrived: True when the WAN IP should be read now."""
        return self.wan.wake()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the running remediation (this loop's and its predecessor's)."""
        self.remedy.wait(timeout)
        if self.predecessor is not None:
            self.predecessor.wait(timeout)

    def last_record(self) -> dict | None:
        records = self.remedy.to_dict()["records"]
        return records[-1] if records else None

    def _maybe_read_azure(self) -> None:
        interval = self.cfg.remediation.azure_status_interval
        if interval <= 0 or self.cfg.azure is None or not self.cfg.azure.connection:
            return
        if time.monotonic() < self._azure_next:
            return
        if self._azure_thread is not None and self._azure_thread.is_alive():
            return
        self._azure_next = time.monotonic() + interval

        def work():
            try:
                view = self.worker.call("get-connection", deadline=60)
                view["read_at"] = iso(self.clock())
                view["error"] = None
            except S2SError as exc:
                view = {
                    **(self.remedy.azure_view or {}),
                    "error": str(exc),
                    "read_at": iso(self.clock()),
                }
                log.warning("reading Azure's view of the connection failed: %s", exc)
            self.remedy.azure_view = view

        self._azure_thread = threading.Thread(target=work, name="azure-view", daemon=True)
        self._azure_thread.start()

    def close(self) -> None:
        self.wan.close()
        if self.predecessor is not None and not self.predecessor.busy:
            self.predecessor.close()
