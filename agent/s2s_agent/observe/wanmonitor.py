"""One WAN source watched through the hysteresis tracker: :class:`WanMonitor`.

A monitor reads its source (an interface, the HTTP quorum, or a gateway group's active
member) every ``poll_interval``, sooner while a change is pending, and at once when woken
(:meth:`WanMonitor.poke`: a kernel event on one of :attr:`WanMonitor.watch`, or the
``wake`` control command). Every reading goes through the same
:class:`~s2s_agent.decide.wan.WanTracker`, so a failover, a failback and an address change
all wait out ``wan.hold_seconds`` / ``hold_count`` and a flap cancels itself.

A reading is ``(ip, reason)`` or ``(ip, reason, via)``; ``via`` (gateway groups) names the
active member (:mod:`.gwgroup`) and is shown in status. With ``background`` the read runs
on a worker thread: :meth:`start_poll` / :meth:`collect`, the daemon's loop never waits.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from ..core.background import Background
from ..decide.wan import WanTracker
from .gwgroup import kernel_group_ip, pfsense_group_ip
from .ha import wan_reader
from .wanwatch import read_wan_ip

log = logging.getLogger(__name__)

READ_GUARD = 120.0  # a background read never takes this long (each has its own deadline)


class WanMonitor:
    """Polls one WAN source through the hysteresis tracker (see the module docstring)."""

    def __init__(
        self,
        settings,
        previous: str | None,
        *,
        read=read_wan_ip,
        monotonic: Callable[[], float] = time.monotonic,
        background: Background | None = None,
        watch: Iterable[str] | None = None,
        label: str = "",
    ):
        self.settings = settings
        self.read = read
        self.monotonic = monotonic
        self.tracker = WanTracker(settings.hold_seconds, settings.hold_count, previous)
        if watch is None:
            iface = settings.interface if settings.source == "interface" else None
            watch = (iface,) if iface else ()
        self.watch: frozenset[str] = frozenset(watch)
        self.label = label
        self.events = None  # an own event socket (tests); the loops share one instead
        self.next_poll = 0.0
        self.last_reason = ""
        self.observed: str | None = None
        self.via: dict | None = None  # the active member of a gateway group, last read
        self.bg = background
        self._inflight = False  # a background read was started and not yet collected
        self._reread = False  # an event came while it was in flight: read again

    @property
    def interface(self) -> str | None:
        """The interface the source uses now (a group's active member's)."""
        if self.via is not None and self.via.get("interface"):
            return self.via["interface"]
        return self.settings.interface

    def due(self) -> bool:
        return self.monotonic() >= self.next_poll and not (self.bg is not None and self.bg.busy)

    def poke(self) -> None:
        """Read again now: an event said the source may have changed."""
        self.next_poll = 0.0
        # a read already in flight may have read the old address: its result must not
        # push the next read out to poll_interval (the event would be lost until then)
        self._reread = self._reread or self._inflight

    def wake(self) -> bool:
        """Drain an own event socket; True if the WAN address may have changed."""
        if self.events is not None and self.events.drain():
            self.poke()
            return True
        return False

    def poll(self) -> str | None:
        """Read the WAN IP now (blocking) and feed the tracker."""
        self._observe(*self.read(self.settings))
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

    def _observe(self, ip: str | None, reason: str, via: dict | None = None) -> None:
        now = self.monotonic()
        self.observed, self.last_reason = ip, reason
        if via is not None or ip is None:
            self._note_member(via)
        d = self.tracker.observe(ip, now)
        if ip is None:
            log.warning("WAN IP unknown%s: %s", f" ({self.label})" if self.label else "", reason)
        pending = d.candidate is not None
        step = max(0.2, min(self.settings.hold_seconds / max(1, self.settings.hold_count), 1.0))
        self.next_poll = now + (step if pending else self.settings.poll_interval)
        if d.candidate is not None and self.tracker.count == 1:  # first sighting
            log.info(
                "WAN change seen%s: %s -> %s%s (holding %gs)",
                f" ({self.label})" if self.label else "",
                d.current,
                d.candidate,
                _member(via),
                self.settings.hold_seconds,
            )
        if d.changed:
            log.info(
                "WAN IP confirmed%s: %s -> %s%s",
                f" ({self.label})" if self.label else "",
                d.old,
                d.current,
                _member(via),
            )

    def _note_member(self, via: dict | None) -> None:
        old = self.via
        if via is not None and old is not None and via.get("gateway") != old.get("gateway"):
            log.info(
                "gateway group %s: active member %s (tier %s, %s) -> %s (tier %s, %s)",
                via.get("group"),
                old.get("gateway"),
                old.get("tier"),
                old.get("interface"),
                via.get("gateway"),
                via.get("tier"),
                via.get("interface"),
            )
        if via is not None:
            self.via = via

    def next_wake(self) -> float:
        """When the main loop must come back for this monitor (a monotonic time)."""
        return float("inf") if self.bg is not None and self.bg.busy else self.next_poll

    def status(self) -> dict:
        """Which WAN the source uses now (fields added to a tunnel's remediation status)."""
        via = self.via or {}
        return {
            "wan_interface": self.interface,
            "wan_group": via.get("group"),
            "wan_gateway": via.get("gateway"),
            "wan_tier": via.get("tier"),
            "wan_resolver": via.get("resolver"),
            "wan_address": self.observed,
        }

    def close(self) -> None:
        if self.events is not None:
            self.events.close()


def wan_monitor(
    cfg,
    src,
    ikeids: list[int],
    previous: str | None,
    *,
    bg: Background | None = None,
    main: bool = False,
    on_pfsense: bool = False,
) -> WanMonitor:
    """The monitor of one WAN source (``src``: a tunnel's WanSource or None = ``cfg.wan``).

    ``main``: the remediated tunnel's source, read as ``cfg.wan`` says (with its CARP VIP).
    A gateway group is resolved by pfSense (``resolve-src.php``) when the local backend is
    pfSense (``on_pfsense``) and the tunnels name their phase 1s, else by the kernel's member
    state (the source's ``resolver`` forces one)."""
    if src is None or src.source != "gateway_group":
        if main or src is None:
            return WanMonitor(cfg.wan, previous, read=wan_reader(cfg), background=bg)
        source = "http" if src.source == "http" else "interface"
        settings = replace(cfg.wan, source=source, interface=src.interface)
        return WanMonitor(settings, previous, background=bg, label=src.describe())
    resolver = src.resolver
    if resolver == "auto":
        resolver = "pfsense" if ikeids and on_pfsense else "kernel"
    group, members = src.group, src.members
    if resolver == "pfsense":

        def read(settings, **_kw):
            return pfsense_group_ip(group, ikeids, allow_private=settings.allow_private)
    else:

        def read(settings, **_kw):
            return kernel_group_ip(group, members, allow_private=settings.allow_private)

    settings = replace(cfg.wan, source="gateway_group", interface=members[0].interface)
    watch = {m.interface for m in members}  # a member's link or address event: read now
    log.info("WAN source %s: resolved by %s", src.describe(), resolver)
    return WanMonitor(
        settings, previous, read=read, background=bg, watch=watch, label=src.describe()
    )


def _member(via: dict | None) -> str:
    if not via or not via.get("gateway"):
        return ""
    return f" via {via['gateway']} (tier {via.get('tier')}, {via.get('interface')})"
