"""Remediation inside the daemon: WAN watching, CARP role, planner, executor, Azure's view.

The daemon calls :meth:`RemedyLoop.tick` after each observation cycle, whenever the
address-change event socket wakes it (so a WAN change is seen within a second, not at
the next cycle) and when a background read finished. Azure's view of the LNG and the
connection is read by the worker process every ``remediation.azure_status_interval``
seconds, and soon after a remediation, on background threads (:mod:`.act.azureview`).

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
import time
from collections.abc import Callable

from .act import lngmemory
from .act.azureview import AzureViews, view_targets
from .act.azureworker import AzureWorker
from .act.executor import Remediator
from .act.localapply import backend
from .config import Config
from .core.background import Background
from .decide.plan import Plan
from .observe.addrevents import open_events
from .observe.ha import carp_role
from .observe.wanmonitor import READ_GUARD, WanMonitor, wan_monitor
from .observe.wanwatch import read_wan_ip
from .tell import lngstatus
from .tell.alerts import LngAlertFilter

__all__ = ["READ_GUARD", "RemedyLoop", "WanMonitor", "read_wan_ip", "wan_monitor"]

log = logging.getLogger(__name__)

ROLE_REFRESH = 5.0  # seconds between CARP state reads


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
        # a failing LNG alerts once per state change, then every reminder_interval
        notify = LngAlertFilter(notify, clock, cfg.alerts.reminder_interval)
        self.notify = notify
        lng = lngmemory.lng_id(cfg.azure.lng_key) if cfg.azure is not None else None
        self.worker = worker or AzureWorker(cfg.path, lng=lng)  # the LNG planned for
        self.remedy = Remediator(cfg, worker=self.worker, clock=clock, notify=notify)
        main = cfg.remediated_tunnel()
        self.wan = wan_monitor(
            cfg,
            main.wan,
            self.source_ikeids(cfg, main),
            previous_wan,
            bg=Background("wan-read", wake) if background else None,
            main=True,
            on_pfsense=backend(cfg) == "pfsense",
        )
        self.events = None  # one socket: address and link events of every watched interface
        r = cfg.remediation
        self.carp = bool(r.carp_interface and r.carp_vhid is not None)
        # until CARP was read this node acts like a BACKUP: it must never act as standalone
        self.role, self.role_why = (
            ("unknown", "CARP state not read yet") if self.carp else ("standalone", "")
        )
        self._role_bg = Background("carp-read", wake) if background else None
        self._role_next = 0.0
        every = r.azure_status_interval
        worker = self.worker
        self.views = AzureViews(
            view_targets(cfg), lambda _t: worker, every, clock=clock, notify=notify
        )
        self._finished_seen: dict = {}
        self.predecessor = predecessor
        self.dormant: dict[str, dict] = {}  # LNGs the config no longer names (lngmemory)
        self.open_events()

    @staticmethod
    def source_ikeids(cfg: Config, tunnel) -> list[int]:
        """The phase 1s whose source ``tunnel``'s WAN monitor resolves (pfSense resolver)."""
        return [tunnel.ikeid] if tunnel.ikeid is not None else []

    def wan_monitors(self) -> list[WanMonitor]:
        """Every WAN source this loop watches (the multi-tunnel loop has several)."""
        return [self.wan]

    def open_events(self) -> None:
        """(Re)open the one event socket for every interface the monitors watch."""
        if self.events is not None:
            self.events.close()
        watched = set().union(*(m.watch for m in self.wan_monitors()))
        self.events = open_events(sorted(watched)) if watched else None

    def fileno(self) -> int | None:
        return self.events.fileno() if self.events is not None else None

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
            "azure_view": self.status()["azure"],
            "azure_views": self.views.to_dict(),
        }

    def load(self, data: dict) -> None:
        """Each LNG's memory from either loop's ``to_dict`` or state.json, by LNG key."""
        if not isinstance(data, dict):
            return
        main = self.cfg.azure.lng_key if self.cfg.azure is not None else None
        try:
            self.dormant = lngmemory.load_all(self.lng_remediators(), data, main, self.clock())
        except Exception as exc:  # persisted state of an odd shape: start without it
            log.warning("ignoring unreadable remediation state: %s: %s", type(exc).__name__, exc)
        self.views.load(data.get("azure_views"))

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
            "wan_source": self._main_source(),
            **self.wan.status(),
            "applied_ip": mem["applied_ip"],
            "lng_ip": mem["lng_ip"],
            "running": self.busy,
            "plan": plan.to_dict() if plan else None,
            "azure_writes_last_hour": len(self.remedy.history.writes_last_hour(self.clock())),
        }
        main = self.cfg.remediated_tunnel()
        remediation.update(lngstatus.lng_fields(main.azure, (main,)))
        return {
            "remediation": remediation,
            "remediations": list(reversed(mem["records"])),
            "azure": lngstatus.azure_of(self.views, main.azure),
        }

    def lng_status(self) -> list[dict]:
        """The status document's ``lngs``: one entry per LNG (here: the one LNG)."""
        main = self.cfg.remediated_tunnel()
        if main.azure is None:
            return []
        wan = self.wan.tracker.current
        return [
            lngstatus.lng_entry(
                main.azure, (main,), self.remedy, self.views, wan_ip=wan, running=self.busy
            )
        ]

    def _main_source(self) -> str | None:
        src = self.cfg.remediated_tunnel().wan
        return src.describe() if src is not None else None

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
        """An address or link event arrived: True when a WAN source should be read now
        (each monitor watching a hit interface is read at once)."""
        if self.events is None:
            return False
        names = self.events.drain_names()
        hit = [m for m in self.wan_monitors() if "*" in names or m.watch & names]
        for m in hit:
            m.poke()
        if hit:
            log.info(
                "address/link event on %s: reading %s now",
                ", ".join(sorted(names)),
                ", ".join(m.label or "the WAN" for m in hit),
            )
        return bool(hit)

    def wake_all(self) -> None:
        """Read every WAN source now (the ``wake`` control command)."""
        for m in self.wan_monitors():
            m.poke()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the running remediation (this loop's and its predecessor's)."""
        self.remedy.wait(timeout)
        if self.predecessor is not None:
            self.predecessor.wait(timeout)

    def last_record(self) -> dict | None:
        records = self.remedy.to_dict()["records"]
        return records[-1] if records else None

    def _finished(self) -> dict:
        """LNG key -> when its last remediation finished (a new one: read Azure's view soon)."""
        main = self.cfg.remediated_tunnel()
        return {main.azure.lng_key: self.remedy.last_finished} if main.azure else {}

    def _maybe_read_azure(self) -> None:
        """Start the due reads of Azure's view (background threads; never blocks). A CARP
        BACKUP leaves Azure to the MASTER: no writes, and no reads either."""
        if self.role in ("backup", "unknown"):
            return
        for key, finished in self._finished().items():
            if finished is not None and self._finished_seen.get(key) != finished:
                self._finished_seen[key] = finished
                self.views.refresh(key)
        self.views.kick()

    def close(self) -> None:
        self.wan.close()
        if self.events is not None:
            self.events.close()
            self.events = None
        if self.predecessor is not None and not self.predecessor.busy:
            self.predecessor.close()
