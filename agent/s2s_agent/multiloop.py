"""The daemon's remedy loop for several Azure tunnels (issue 10).

Same interface as :class:`~.remedyloop.RemedyLoop` (the daemon uses either), built on it for
the WAN/CARP reads and Azure's view of the main connection. What differs:

* one :class:`~.remedyloop.WanMonitor` per distinct WAN source of the Azure tunnels (the
  remediated tunnel's source is the loop's own ``wan``), all woken by one kernel event
  socket (address and link events of every watched interface); a gateway group follows
  its active member (:func:`~.observe.wanmonitor.wan_monitor`: pfSense's own resolution, or the
  kernel's member state) through the same hold as an address change;
* planning is :func:`~.decide.multiplan.plan_all` (one plan per LNG) and running is
  :class:`~.act.multiexec.MultiRemediator` (parallel LNG updates, one local write, each
  tunnel restarted and verified);
* ``tunnel_status`` gives every Azure tunnel its own entry: its LNG, its WAN source and
  address, the LNG's memory, plan and records, and the tunnel's own records.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from .act import lngmemory
from .act.azureview import AzureViews, view_targets
from .act.localapply import backend
from .act.multiexec import MultiRemediator
from .config import Config, TunnelSettings
from .core.background import Background
from .core.clock import iso
from .remedyloop import RemedyLoop, WanMonitor, wan_monitor
from .tell import lngstatus

log = logging.getLogger(__name__)


def wants_multi(cfg: Config) -> bool:
    """Several Azure tunnels: the multi loop; one: the single-tunnel loop of before."""
    return len(cfg.azure_tunnels()) > 1


def _source_key(t: TunnelSettings) -> str:
    return t.wan.describe() if t.wan is not None else "default"


class MultiRemedyLoop(RemedyLoop):
    def __init__(
        self,
        cfg: Config,
        *,
        notify: Callable[[str, str], None],
        clock: Callable[[], float] = time.time,
        previous_wan: str | None = None,
        worker=None,
        background: bool = False,
        wake: Callable[[], None] | None = None,
        predecessor=None,
        workers: Callable[[str], object] | None = None,
        actions: dict | None = None,
    ):
        super().__init__(
            cfg,
            notify=notify,
            clock=clock,
            previous_wan=previous_wan,
            worker=worker,
            background=background,
            wake=wake,
            predecessor=predecessor,
        )
        self.multi = MultiRemediator(
            cfg, workers=workers, actions=actions, clock=clock, notify=self.notify
        )
        # Azure's view per LNG, each read by that LNG's own worker (its profile, subscription)
        self.views = AzureViews(
            view_targets(cfg),
            lambda target: self.multi.lngs[target.key].worker,
            cfg.remediation.azure_status_interval,
            clock=clock,
            notify=self.notify,
        )
        main = cfg.remediated_tunnel()
        pf = backend(cfg) == "pfsense"
        self.monitors: dict[str, WanMonitor] = {_source_key(main): self.wan}
        for t in cfg.azure_tunnels():
            key = _source_key(t)
            if key in self.monitors or t.wan is None:
                continue
            bg = Background(f"wan-read-{key}", wake) if background else None
            self.monitors[key] = wan_monitor(
                cfg, t.wan, self.source_ikeids(cfg, t), None, bg=bg, on_pfsense=pf
            )
        self.open_events()  # one socket for every interface of every source
        self.health: dict[str, str] = {}
        self.seen: dict[str, str | None] = {}  # each tunnel's IKE SA local identity

    @staticmethod
    def source_ikeids(cfg: Config, tunnel: TunnelSettings) -> list[int]:
        """Every phase 1 on ``tunnel``'s WAN source: one resolve-src.php call for all."""
        key = _source_key(tunnel)
        return [
            t.ikeid for t in cfg.azure_tunnels() if t.ikeid is not None and _source_key(t) == key
        ]

    def wan_monitors(self) -> list[WanMonitor]:
        return list(getattr(self, "monitors", {}).values()) or [self.wan]

    def monitor(self, t: TunnelSettings) -> WanMonitor:
        return self.monitors.get(_source_key(t), self.wan)

    def use_background(self, wake: Callable[[], None]) -> None:
        super().use_background(wake)
        for key, m in self.monitors.items():
            if m is not self.wan:
                m.bg = Background(f"wan-read-{key}", wake)

    @property
    def busy(self) -> bool:
        old = self.predecessor
        return self.multi.busy or (old is not None and old.busy)

    def running(self):
        if self.multi.busy:
            return self
        return self.predecessor if self.busy else None

    def wait(self, timeout: float | None = None) -> None:
        self.multi.wait(timeout)
        if self.predecessor is not None:
            self.predecessor.wait(timeout)

    # ---- memory (per LNG key, the same format as the single loop's: lngmemory) --------
    def lng_remediators(self) -> dict:
        return self.multi.lngs

    def to_dict(self) -> dict:
        main_key = self.cfg.remediated_tunnel().azure.lng_key
        lngs = lngmemory.export(self.multi.lngs, self.dormant)
        mine = [lngs[lngmemory.lng_id(k)] for k in self.multi.lngs]
        records = sorted((rec for r in mine for rec in r["records"]), key=lambda r: r["started_ts"])
        return {
            **lngs[lngmemory.lng_id(main_key)],
            "records": records,
            "lng_key": lngmemory.lng_id(main_key),
            "wan_ip": self.wan.tracker.current,
            "wan_ips": {k: m.tracker.current for k, m in self.monitors.items()},
            "lngs": lngs,
            "tunnel_records": {n: list(q) for n, q in self.multi.tunnel_records.items()},
            "tunnel_ips": {
                t.name: self.multi.lngs[t.azure.lng_key].applied_ip
                if self.multi.tunnel_ips[t.name] == "="
                else self.multi.tunnel_ips[t.name]
                for t in self.cfg.azure_tunnels()
            },
            "azure_view": self.status()["azure"],
            "azure_views": self.views.to_dict(),
        }

    def load(self, data: dict) -> None:
        super().load(data)  # every LNG's memory, by key
        if not isinstance(data, dict):
            return
        ips = data.get("tunnel_ips")
        if isinstance(ips, dict):  # a tunnel the old memory did not know: its id is unknown
            for name in self.multi.tunnel_ips:
                ip = ips.get(name)
                self.multi.tunnel_ips[name] = ip if isinstance(ip, str) else None
        for name, recs in (data.get("tunnel_records") or {}).items():
            q = self.multi.tunnel_records.get(name)
            if q is not None and isinstance(recs, list):
                q.clear()
                q.extend(r for r in recs if _tunnel_record(r))
        for key, ip in (data.get("wan_ips") or {}).items():
            m = self.monitors.get(key)
            if m is not None and m is not self.wan and isinstance(ip, str):
                m.tracker.current = m.tracker.current or ip

    # ---- the reads ---------------------------------------------------------------------------
    def kick(self) -> None:
        super().kick()
        for m in self.monitors.values():
            if m is not self.wan:
                m.start_poll()

    def collect(self) -> bool:
        got = super().collect()
        for m in self.monitors.values():
            if m is not self.wan:
                got = m.collect() or got
        return got

    def next_wake(self) -> float:
        return min([super().next_wake(), *(m.next_wake() for m in self.monitors.values())])

    # ---- deciding ------------------------------------------------------------------------
    def _inputs(self) -> tuple[dict, dict]:
        wan = {t.name: self.monitor(t).tracker.current for t in self.cfg.azure_tunnels()}
        return dict(self.health), wan

    def tick(self, tunnels: list[dict], observed_at: float | None = None) -> None:
        self._adopt()
        if self.wan.bg is None:
            for m in self.monitors.values():
                if m.due():
                    m.poll()
            self.current_role()
        else:
            self.collect()
            self.kick()
        finished = max(
            (r.last_finished for r in self.multi.lngs.values() if r.last_finished), default=None
        )
        stale = observed_at is not None and finished is not None and observed_at < finished
        self.health = {t["name"]: "UNKNOWN" if stale else t["health"] for t in tunnels}
        self.seen = {t["name"]: t.get("local_id") for t in tunnels if not stale}
        if not self.busy and self.predecessor is None:
            role = "backup" if self.role in ("backup", "unknown") else self.role
            health, wan = self._inputs()
            decisions = self.multi.decide(health, wan, role, seen=self.seen)
            self.multi.start(decisions)
        self._maybe_read_azure()

    def plan(self, health: str, *, dry_run: bool = True) -> dict:
        return self._plan(health, dry_run)[0]

    def _plan(self, health: str, dry_run: bool) -> tuple[dict, tuple]:
        h, wan = self._inputs()
        h.setdefault(self.tunnel, health)
        ds = self.multi.decide(h, wan, self.current_role(), dry_run=dry_run, seen=self.seen)
        out = {
            "enabled": True,
            "tunnel": self.tunnel,
            "health": health,
            "role": self.role,
            "wan_ip": self.wan.tracker.current,
            "running": self.busy,
            "plan": next((d.plan.to_dict() for d in ds if self.tunnel in d.tunnels), None),
            "lngs": [
                {"lng": d.name, "tunnels": list(d.tunnels), "plan": d.plan.to_dict()} for d in ds
            ],
        }
        return out, ds

    def remediate(self, health: str) -> dict:
        may = not self.busy and self.predecessor is None
        out, ds = self._plan(health, not may)
        return {**out, "started": may and self.multi.start(ds)}

    def last_record(self) -> dict | None:
        records = self.to_dict()["records"]
        return records[-1] if records else None

    # ---- status --------------------------------------------------------------------------
    def tunnel_status(self) -> dict[str, dict]:
        """Per Azure tunnel: its LNG, its WAN source and address, the LNG's memory, plan and
        records, the tunnel's own records."""
        out = {}
        now = self.clock()
        for t in self.cfg.azure_tunnels():
            r = self.multi.lngs[t.azure.lng_key]
            mem = r.to_dict()
            m = self.monitor(t)
            plan = r.last_plan
            out[t.name] = {
                "remediation": {
                    "enabled": self.cfg.remediation.enabled,
                    "role": self.role,
                    "role_detail": self.role_why,
                    **lngstatus.lng_fields(t.azure, self.multi.groups[t.azure.lng_key]),
                    "wan_source": t.wan.describe() if t.wan else None,
                    **m.status(),
                    "wan_ip": m.tracker.current,
                    "wan_candidate": m.tracker.candidate,
                    "wan_error": m.last_reason or None,
                    "applied_ip": mem["applied_ip"],
                    "lng_ip": mem["lng_ip"],
                    "running": self.busy,
                    "plan": plan.to_dict() if plan else None,
                    "azure_writes_last_hour": len(r.history.writes_last_hour(now)),
                },
                "remediations": list(reversed(mem["records"])),
                "tunnel_remediations": [
                    {**x, "started": iso(x["started"]), "finished": iso(x["finished"])}
                    for x in reversed(self.multi.tunnel_records[t.name])
                ],
                "azure": lngstatus.azure_of(self.views, t.azure),
            }
        return out

    def status(self) -> dict:
        return self.tunnel_status()[self.tunnel]

    def lng_status(self) -> list[dict]:
        """The status document's ``lngs``: per LNG its addresses (wanted, written, Azure's),
        write budget, backoff, last remediation and Azure's view."""
        return [
            lngstatus.lng_entry(
                ts[0].azure,
                ts,
                self.multi.lngs[key],
                self.views,
                wan_ip=self.monitor(ts[0]).tracker.current,
                running=self.busy,
            )
            for key, ts in self.multi.groups.items()
        ]

    def _finished(self) -> dict:
        return {k: r.last_finished for k, r in self.multi.lngs.items()}

    def close(self) -> None:
        for m in self.monitors.values():
            if m is not self.wan:
                m.close()
        super().close()


def _tunnel_record(r) -> bool:
    """A saved tunnel record status can show (its times are numbers)."""
    return isinstance(r, dict) and all(
        isinstance(r.get(k), int | float) and not isinstance(r.get(k), bool)
        for k in ("started", "finished")
    )
