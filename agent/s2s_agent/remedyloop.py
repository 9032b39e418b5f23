"""Remediation inside the daemon: WAN watching, CARP role, planner, executor, Azure's view.

The daemon calls :meth:`RemedyLoop.tick` after each observation cycle and whenever the
address-change event socket wakes it (so a WAN change is seen within a second, not at
the next cycle). Azure's view of the connection is read by the worker process every
``remediation.azure_status_interval`` seconds in a background thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .alerts import iso
from .azureworker import AzureWorker
from .config import Config
from .errors import S2SError
from .executor import Remediator
from .ha import carp_role, wan_reader
from .wan import WanTracker
from .wanwatch import open_events, read_wan_ip

log = logging.getLogger(__name__)

ROLE_REFRESH = 5.0  # seconds between CARP state reads


class WanMonitor:
    """Polls the WAN IP (every ``poll_interval``, sooner while a change is pending or after
    an address event) through the hysteresis tracker."""

    def __init__(self, settings, previous: str | None, *, read=read_wan_ip,
                 monotonic: Callable[[], float] = time.monotonic):  # fmt: skip
        self.settings = settings
        self.read = read
        self.monotonic = monotonic
        self.tracker = WanTracker(settings.hold_seconds, settings.hold_count, previous)
        self.events = open_events(settings.interface) if settings.source == "interface" else None
        self.next_poll = 0.0
        self.last_reason = ""
        self.observed: str | None = None

    def due(self) -> bool:
        return self.monotonic() >= self.next_poll

    def wake(self) -> bool:
        """Drain the event socket; True if the WAN address may have changed."""
        if self.events is not None and self.events.drain():
            self.next_poll = 0.0
            return True
        return False

    def poll(self) -> str | None:
        now = self.monotonic()
        ip, reason = self.read(self.settings)
        self.observed, self.last_reason = ip, reason
        d = self.tracker.observe(ip, now)
        if ip is None:
            log.warning("WAN IP unknown: %s", reason)
        pending = d.candidate is not None
        step = max(0.2, min(self.settings.hold_seconds / max(1, self.settings.hold_count), 1.0))
        self.next_poll = now + (step if pending else self.settings.poll_interval)
        if d.changed:
            log.info("WAN IP confirmed: %s -> %s", d.old, d.current)
        return self.tracker.current

    def close(self) -> None:
        if self.events is not None:
            self.events.close()


class RemedyLoop:
    def __init__(self, cfg: Config, *, notify: Callable[[str, str], None],
                 clock: Callable[[], float] = time.time, previous_wan: str | None = None,
                 worker: AzureWorker | None = None):  # fmt: skip
        self.cfg = cfg
        self.clock = clock
        self.worker = worker or AzureWorker(cfg.path)
        self.remedy = Remediator(cfg, worker=self.worker, clock=clock, notify=notify)
        self.wan = WanMonitor(cfg.wan, previous_wan, read=wan_reader(cfg))  # CARP: the VIP's
        self.role, self.role_why = "standalone", ""
        self._role_next = 0.0
        self._azure_next = 0.0
        self._azure_thread: threading.Thread | None = None

    def fileno(self) -> int | None:
        return self.wan.events.fileno() if self.wan.events is not None else None

    def to_dict(self) -> dict:
        return {**self.remedy.to_dict(), "wan_ip": self.wan.tracker.current,
                "azure_view": self.remedy.azure_view}  # fmt: skip

    def load(self, data: dict) -> None:
        self.remedy.load(data)
        if data.get("azure_view"):
            self.remedy.azure_view = data["azure_view"]

    def tick(self, tunnels: list[dict], observed_at: float | None = None) -> None:
        """Decide (and maybe start) a remediation; annotate the remediated tunnel's status.

        ``observed_at`` (wall clock) is when ``tunnels`` were observed: health seen before the
        last remediation finished says nothing about its result, so no new plan acts on it.
        """
        if self.wan.due():
            self.wan.poll()
        r = self.cfg.remediation
        if time.monotonic() >= self._role_next:  # `ifconfig` at most every few seconds
            self.role, self.role_why = carp_role(r.carp_interface, r.carp_vhid)
            self._role_next = time.monotonic() + ROLE_REFRESH
        name = self.cfg.remediated_tunnel().name
        entry = next((t for t in tunnels if t["name"] == name), None)
        if entry is None:
            return
        wan_ip = self.wan.tracker.current
        plan = None
        finished = self.remedy.last_finished
        stale = observed_at is not None and finished is not None and observed_at < finished
        if not self.remedy.busy:
            role = "backup" if self.role in ("backup", "unknown") else self.role
            # stale health may still drive a WAN-change heal, but never the DOWN ladder
            plan = self.remedy.decide("UNKNOWN" if stale else entry["health"], wan_ip, role)
            if plan.steps:
                self.remedy.start(plan, wan_ip)
        self._maybe_read_azure()
        self.annotate(entry)

    def annotate(self, entry: dict) -> None:
        plan = self.remedy.last_plan
        mem = self.remedy.to_dict()
        entry["remediation"] = {
            "enabled": self.cfg.remediation.enabled,
            "role": self.role,
            "role_detail": self.role_why,
            "wan_ip": self.wan.tracker.current,
            "wan_candidate": self.wan.tracker.candidate,
            "wan_error": self.wan.last_reason or None,
            "applied_ip": mem["applied_ip"],
            "lng_ip": mem["lng_ip"],
            "running": self.remedy.busy,
            "plan": plan.to_dict() if plan else None,
            "azure_writes_last_hour": len(self.remedy.history.writes_last_hour(self.clock())),
        }
        entry["remediations"] = list(reversed(mem["records"]))
        entry["azure"] = self.remedy.azure_view

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
                view = {**(self.remedy.azure_view or {}), "error": str(exc), "read_at": iso(self.clock())}
                log.warning("reading Azure's view of the connection failed: %s", exc)
            self.remedy.azure_view = view

        self._azure_thread = threading.Thread(target=work, name="azure-view", daemon=True)
        self._azure_thread.start()

    def close(self) -> None:
        self.wan.close()
