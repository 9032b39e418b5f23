"""Several Azure tunnels: run the per-LNG plans of :mod:`..decide.multiplan` together.

Each LNG keeps its own memory in its own :class:`~.executor.Remediator` (the address last
written, Azure's view, attempts, records, and its own :class:`~.writegate.WriteGate`, so
``max_azure_writes_per_hour`` counts per LNG), and its Azure calls run in a worker process
for that LNG's target (``--tunnel``). One run:

1. the LNGs' own steps (``update_lng``, ``check_lng``, ``reset_connection``) run in
   parallel, one thread per LNG (If-Match and the long-running operation as always, in the
   worker);
2. the local identifiers of every tunnel whose LNG is right are re-applied at once:
   swanctl: one file write and one reload; pfSense: one apply-myid.php run (``--set`` /
   ``--refresh``) for every phase 1, i.e. one write_config and one ipsec_configure;
3. each of those tunnels is restarted and verified, in parallel.

A failing LNG stops only its own tunnels; every LNG gets its record, its alert and its
backoff (its attempts), every tunnel its record.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import replace

from ..config import Config, TunnelSettings
from ..decide import multiplan as M
from ..decide import plan as R
from .azureworker import AzureWorker
from .executor import RECORDS_KEPT, Record, Remediator, StepRecord
from .multiparts import (
    NoAzure,
    apply_local_ids,
    failure_text,
    lng_config,
    lng_groups,
    tunnel_id,
)
from .pfsense import PhaseOneErrors

__all__ = ["BATCH_GRACE", "MultiRemediator", "lng_config", "lng_groups"]

log = logging.getLogger(__name__)
LNG_STEPS = ("update_lng", "check_lng", "reset_connection")
BATCH_GRACE = 5.0
"""Seconds after the first LNG is done during which other LNGs still join its local write."""


class MultiRemediator:
    """Per-LNG remediators plus the tunnel steps that span LNGs. ``actions`` may replace
    ``apply_local_ids``, ``restart_ike``, ``initiate_child`` and ``verify`` (tests)."""

    def __init__(
        self,
        cfg: Config,
        *,
        workers: Callable[[str], object] | None = None,
        actions: dict[str, Callable] | None = None,
        clock: Callable[[], float] = time.time,
        notify: Callable[[str, str], None] = lambda sev, msg: None,
    ):
        self.cfg, self.clock, self.notify = cfg, clock, notify
        self.groups = lng_groups(cfg)
        self.tunnels = {t.name: t for ts in self.groups.values() for t in ts}
        lng_of = {ts[0].name: "/".join(key) for key, ts in self.groups.items()}
        make = workers or (lambda name: AzureWorker(cfg.path, tunnel=name, lng=lng_of[name]))
        self.lngs: dict[M.LngKey, Remediator] = {}
        for key, ts in self.groups.items():
            sub = lng_config(cfg, ts)
            lng_actions = {k: v for k, v in (actions or {}).items() if k in LNG_STEPS}
            self.lngs[key] = Remediator(
                sub, worker=make(ts[0].name), actions=lng_actions, clock=clock, notify=notify
            )
        self.tunnel_records: dict[str, deque[dict]] = {
            n: deque(maxlen=RECORDS_KEPT) for n in self.tunnels
        }
        # the address each tunnel's local id was last applied with; "=" = its LNG's
        # applied_ip (the memory of before), None = not known (a reload added the tunnel)
        self.tunnel_ips: dict[str, str | None] = dict.fromkeys(self.tunnels, "=")
        self.actions: dict[str, Callable] = {
            "apply_local_ids": self._apply_local_ids,
            "restart_ike": self._tunnel_step("restart_ike"),
            "initiate_child": self._tunnel_step("initiate_child"),
            "verify": self._tunnel_step("verify"),
        }
        self.actions.update({k: v for k, v in (actions or {}).items() if k not in LNG_STEPS})
        self._thread: threading.Thread | None = None
        self._local_lock = threading.Lock()
        self.batch_grace = BATCH_GRACE
        self.last: tuple[M.LngDecision, ...] = ()

    # ---- deciding ----------------------------------------------------------------------
    def views(self) -> dict[M.LngKey, M.LngView]:
        return {
            k: M.LngView(
                k, r.cfg.azure.local_network_gateway, r.applied_ip, r.lng_ip, r.last_lng_write
            )
            for k, r in self.lngs.items()
        }

    def decide(
        self,
        health: dict[str, str],
        wan: dict[str, str | None],
        role: str,
        *,
        dry_run=False,
        seen: dict[str, str | None] | None = None,
    ) -> tuple[M.LngDecision, ...]:
        """One decision per LNG from each tunnel's health and WAN address (pure planner);
        memory changes are recorded per LNG unless ``dry_run``. ``seen``: the local
        identity of each tunnel's IKE SA, which tells a tunnel's unknown id."""
        ids = {n: tunnel_id(self.tunnel_ips[n], (seen or {}).get(n)) for n in self.tunnels}
        if not dry_run:
            self.tunnel_ips.update(ids)
        tviews = [
            M.TunnelView(t.name, k, health.get(t.name, "UNKNOWN"), wan.get(t.name), ids[t.name])
            for k, ts in self.groups.items()
            for t in ts
        ]
        hist = {}
        for k, r in self.lngs.items():
            with r._lock:
                hist[k] = R.History(list(r.history.attempts), list(r.history.azure_writes))
        pol = self.lngs[next(iter(self.lngs))].policy()
        out = M.plan_all(self.clock(), tviews, self.views(), hist, pol, role)
        if not dry_run:
            for d in out:
                r = self.lngs[d.key]
                with r._lock:
                    r._record(d.decision.changes)
                    r.last_plan = d.plan
            self.last = out
        return out

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, decisions: tuple[M.LngDecision, ...]) -> bool:
        if self.busy or not any(d.steps for d in decisions):
            return False
        self._thread = threading.Thread(
            target=self.execute, args=(decisions,), name="remediation", daemon=True
        )
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- running -----------------------------------------------------------------------
    def execute(self, decisions: tuple[M.LngDecision, ...]) -> dict[M.LngKey, Record]:
        todo = [d for d in decisions if d.steps]
        recs: dict[M.LngKey, Record] = {}
        for d in todo:
            r = self.lngs[d.key]
            recs[d.key] = Record(self.clock(), d.plan.reason)
            with r._lock:
                r.records.append(recs[d.key])
        failed: set[M.LngKey] = set()
        # the steps each tunnel of the LNG follows with (the plan lists them per tunnel)
        follow: dict[M.LngKey, list] = {
            d.key: [s for t, s in d.steps if t == self.acting(d)[0].name] for d in todo
        }
        # 1. every LNG's own steps, in parallel; each LNG reports when it is done
        done: queue.Queue = queue.Queue()

        def lng(d: M.LngDecision) -> None:
            try:
                if any(t is None for t, _ in d.steps):
                    self._lng_steps(d, recs[d.key], failed, follow)
            finally:
                done.put(d.key)

        for d in todo:
            threading.Thread(target=lng, args=(d,), name=f"lng-{d.name}", daemon=True).start()
        # 2. + 3. the LNGs done together (within BATCH_GRACE of the first) share one local
        # write; a slow or failing LNG never holds the others' tunnels back
        by_key = {d.key: d for d in todo}
        pending, followers = set(by_key), []
        while pending:
            batch = [done.get()]
            until = time.monotonic() + self.batch_grace
            while len(batch) < len(pending):
                try:
                    batch.append(done.get(timeout=max(0.0, until - time.monotonic())))
                except queue.Empty:
                    break
            pending -= set(batch)
            th = threading.Thread(
                target=self._follow,
                args=([d for d in todo if d.key in batch], recs, failed, follow),
                name="follow",
                daemon=True,
            )
            th.start()
            followers.append(th)
        for th in followers:
            th.join()
        return recs

    def _follow(self, todo: list, recs: dict, failed: set, follow: dict) -> None:
        """One local write for the tunnels of ``todo``'s good LNGs, then restart + verify
        each tunnel in parallel, then each LNG's record is closed. A phase 1 the pfSense
        backend could not re-apply (``PhaseOneErrors``) fails only its tunnel."""
        results: dict[str, bool] = {}
        items = []
        for d in todo:
            if d.key in failed:
                continue
            for s in follow[d.key]:
                if s.kind == "apply_local_id" and s.ip:
                    for t in self.acting(d):
                        items.append((d.key, t, self._old_ip(d.key, t, s.ip), s.ip))
                    break
        if items:
            t0 = time.monotonic()
            try:
                with self._local_lock:  # one writer of the IPsec config at a time
                    detail = self.actions["apply_local_ids"](
                        [(t, old, new) for _, t, old, new in items]
                    )
                ok = True
            except PhaseOneErrors as exc:  # only these tunnels failed (pfSense)
                detail, ok = exc.done, True
                for d in todo:
                    for t in self.acting(d):
                        if t.name in exc.failed:
                            self._local_failed(d, t, recs[d.key], str(exc.failed[t.name]), results)
            except Exception as exc:  # noqa: BLE001 - a bug fails these LNGs, not the daemon
                detail, ok = failure_text(exc), False
            took = time.monotonic() - t0  # one write for every LNG of the batch
            if ok:
                for _, t, _, new in items:
                    if t.name not in results:
                        self.tunnel_ips[t.name] = new
            for key in dict.fromkeys(k for k, *_ in items):
                if all(t.name in results for k, t, *_ in items if k == key):
                    continue  # every tunnel of this LNG failed alone: their records say why
                ip = next(new for k, _, _, new in items if k == key)
                sr = StepRecord("apply_local_id", ok, took, detail, ip)
                self._add(key, recs[key], sr, ip)
                if not ok:
                    self._fail(key, failed, "apply_local_id", detail)
        threads = []
        for d in todo:
            if d.key in failed:
                continue
            steps = [s for s in follow[d.key] if s.kind != "apply_local_id"]
            for t in self.acting(d):
                if t.name in results:  # its phase 1 did not take the address
                    continue
                threads.append(
                    threading.Thread(
                        target=self._tunnel_run,
                        args=(d, t, steps, recs[d.key], results),
                        name=f"tunnel-{t.name}",
                    )
                )
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        for d in todo:
            self._finish(d, recs[d.key], failed, results)

    def _local_failed(self, d, t: TunnelSettings, rec: Record, why: str, results: dict) -> None:
        """Tunnel ``t``'s own local apply failed: its record, its alert; its LNG's record
        ends not ok (retried with backoff); the LNG's other tunnels go on."""
        now = self.clock()
        sr = StepRecord("apply_local_id", False, 0.0, f"{t.name}: {why}", d.plan.target)
        self._add(d.key, rec, sr, d.plan.target)
        trec = {"started": now, "lng": d.name, "trigger": d.plan.reason, "ok": False}
        self.tunnel_records[t.name].append({**trec, "steps": [sr.to_dict()], "finished": now})
        results[t.name] = False
        self.notify(
            "err",
            f"tunnel={t.name} lng={d.name} event=remediation_failed step=apply_local_id "
            f"error={why}",
        )

    def acting(self, d: M.LngDecision) -> list[TunnelSettings]:
        """The tunnels of ``d``'s LNG its plan acts on (all of them for a heal; only those
        behind for a follow-up of tunnels a reload added)."""
        names = {t for t, _ in d.steps if t is not None} or set(d.tunnels)
        return [t for t in self.groups[d.key] if t.name in names]

    def _old_ip(self, key, t: TunnelSettings, new: str) -> str | None:
        """The address ``t``'s local id holds now, as far as the memory knows: its own
        applied address, else its LNG's; None when unknown (the swanctl apply asks charon)."""
        own = self.tunnel_ips.get(t.name)
        old = self.lngs[key].applied_ip if own == "=" else own
        return old if old != new else None

    def _add(self, key, rec: Record, sr: StepRecord, target: str | None) -> None:
        r = self.lngs[key]
        with r._lock:
            rec.steps.append(sr)
            r.history.attempts.append(R.Attempt(self.clock(), sr.kind, sr.ok, target))

    def _fail(self, key, failed: set, step: str, detail: str) -> None:
        failed.add(key)
        r = self.lngs[key]
        names = ",".join(t.name for t in self.groups[key])
        self.notify(
            "err",
            f"lng={r.cfg.azure.local_network_gateway} tunnels={names} "
            f"event=remediation_failed step={step} error={detail}",
        )

    def _lng_steps(self, d: M.LngDecision, rec: Record, failed: set, follow: dict) -> None:
        r = self.lngs[d.key]
        for _, step in [(t, s) for t, s in d.steps if t is None]:
            t0 = time.monotonic()
            try:
                detail = r.actions[step.kind](step, step.ip)
                sr = StepRecord(step.kind, True, time.monotonic() - t0, detail, step.ip)
            except Exception as exc:  # noqa: BLE001 - a bug fails this LNG, not the others
                sr = StepRecord(step.kind, False, time.monotonic() - t0, failure_text(exc), step.ip)
            self._add(d.key, rec, sr, d.plan.target or step.ip)
            if not sr.ok:
                self._fail(d.key, failed, step.kind, sr.detail)
                return
            if step.kind == "check_lng" and step.ip and r.lng_ip not in (None, step.ip):
                heal = R.heal_steps(r.view("DOWN", step.ip, "standalone"))
                up = [s for s in heal if s.kind == "update_lng"]
                follow[d.key] = [s for s in heal if s.kind != "update_lng"]
                if up:
                    self._lng_steps(
                        replace(d, steps=tuple((None, s) for s in up)), rec, failed, follow
                    )
                return

    def _tunnel_run(self, d, t: TunnelSettings, steps, rec: Record, results: dict) -> None:
        now = self.clock()
        trec = {"started": now, "started_ts": now, "lng": d.name, "trigger": d.plan.reason}
        trec["steps"] = []
        ok = True
        for step in steps:
            t0 = time.monotonic()
            try:
                detail = self.actions[step.kind](t, step)
            except Exception as exc:  # noqa: BLE001 - a bug fails this tunnel, not the others
                detail, ok = failure_text(exc), False
            sr = StepRecord(step.kind, ok, time.monotonic() - t0, f"{t.name}: {detail}", step.ip)
            self._add(d.key, rec, sr, d.plan.target)
            trec["steps"].append(sr.to_dict())
            if not ok:
                self.notify(
                    "err",
                    f"tunnel={t.name} lng={d.name} event=remediation_failed step={step.kind} "
                    f"error={detail}",
                )
                break
        trec["ok"], trec["finished"] = ok, self.clock()
        trec["finished_ts"] = trec["finished"]
        self.tunnel_records[t.name].append(trec)
        results[t.name] = ok

    def _finish(self, d: M.LngDecision, rec: Record, failed: set, results: dict) -> None:
        r = self.lngs[d.key]
        ok = d.key not in failed and all(results.get(t.name, False) for t in self.acting(d))
        verified = any(s.kind == "verify" and s.ok for s in rec.steps)
        with r._lock:
            rec.finished, rec.ok = self.clock(), ok
            if ok and verified and d.plan.target:
                r.applied_ip = d.plan.target
                r.history.attempts.clear()
        if ok:
            names = ",".join(t.name for t in self.acting(d))
            self.notify(
                "notice",
                f"lng={d.name} tunnels={names} event={'remediated' if verified else 'remediation_attempt'} "
                f'trigger="{d.plan.reason}" steps={",".join(s.kind for s in rec.steps)} '
                f"seconds={rec.finished - rec.started:.1f}",
            )

    # ---- the tunnel steps ----------------------------------------------------------------
    def _apply_local_ids(self, items: list[tuple[TunnelSettings, str | None, str]]) -> str:
        return apply_local_ids(self.cfg, items)

    def _tunnel_step(self, kind: str) -> Callable[[TunnelSettings, R.Step], str]:
        def run(t: TunnelSettings, step: R.Step) -> str:
            one = Remediator(lng_config(self.cfg, (t,)), worker=NoAzure(), clock=self.clock)
            return one.actions[kind](step, step.ip)

        return run
