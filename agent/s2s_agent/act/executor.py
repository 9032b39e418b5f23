"""The remediation executor: runs the planner's steps, records each with its outcome.

One remediation runs at a time, in its own thread, so the daemon keeps observing and
answering ``status``. Every step is recorded (kind, ok, seconds, detail); the last
records, the IP last applied and the Azure write times are persisted by the daemon, so a
restart (crash or SIGTERM mid-remediation) re-reads the world and converges: the planner
sees the WAN IP still differs from the applied one and heals again; an LNG that already has
the IP is not written twice (the Azure client reads before it writes).

Every Azure call goes through one :class:`~s2s_agent.act.writegate.WriteGate` (``self.worker``),
which enforces ``remediation.max_azure_writes_per_hour`` and records each write, whichever
step or path asked for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import Config
from ..core.clock import iso
from ..core.errors import S2SError
from ..decide import plan as R
from ..observe.probe import run_probe
from .azureworker import AzureWorker
from .crashpoint import crashpoint
from .writegate import WriteGate

log = logging.getLogger(__name__)

RECORDS_KEPT = 20


@dataclass
class StepRecord:
    kind: str
    ok: bool
    seconds: float
    detail: str
    ip: str | None = None

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "detail": self.detail,
            "ip": self.ip,
        }


@dataclass
class Record:
    started: float
    trigger: str
    steps: list[StepRecord] = field(default_factory=list)
    finished: float | None = None
    ok: bool | None = None

    def to_dict(self) -> dict:
        return {
            "started": iso(self.started),
            "started_ts": self.started,
            "trigger": self.trigger,
            "ok": self.ok,
            "seconds": None if self.finished is None else round(self.finished - self.started, 3),
            "steps": [s.to_dict() for s in self.steps],
        }


class StepFailed(S2SError):
    pass


class Remediator:
    """Holds the remediation memory and runs plans. ``actions`` maps step kinds to callables
    (the real ones by default; tests pass their own)."""

    def __init__(
        self,
        cfg: Config,
        *,
        worker: AzureWorker | None = None,
        actions: dict[str, Callable[..., str]] | None = None,
        clock: Callable[[], float] = time.time,
        notify: Callable[[str, str], None] = lambda sev, msg: None,
    ):
        self.cfg = cfg
        self.tunnel = cfg.remediated_tunnel()
        self.clock = clock
        self.notify = notify
        self.applied_ip: str | None = None
        self.lng_ip: str | None = None
        self.last_lng_write: float | None = None
        self.history = R.History()
        self.records: deque[Record] = deque(maxlen=RECORDS_KEPT)
        self.last_plan: R.Plan | None = None
        self._lock = threading.Lock()
        # the only way to Azure: every write is counted against the hourly limit here
        self.worker = WriteGate(
            worker or AzureWorker(cfg.path),
            self.history,
            lambda: self.cfg.remediation.max_azure_writes_per_hour,
            clock,
            lock=self._lock,
        )
        self._thread: threading.Thread | None = None
        self.actions = {
            "update_lng": self._update_lng,
            "apply_local_id": self._apply_local_id,
            "restart_ike": self._restart_ike,
            "initiate_child": self._initiate_child,
            "check_lng": self._check_lng,
            "reset_connection": self._reset_connection,
            "verify": self._verify,
        }
        if actions:
            self.actions.update(actions)

    # ---- memory ------------------------------------------------------------------------
    def policy(self) -> R.Policy:
        r = self.cfg.remediation
        return R.Policy(
            r.enabled,
            r.max_azure_writes_per_hour,
            r.reset_connection_after,
            r.backoff_base,
            r.backoff_cap,
        )

    def to_dict(self) -> dict:
        with self._lock:
            return {
                "applied_ip": self.applied_ip,
                "lng_ip": self.lng_ip,
                "last_lng_write": self.last_lng_write,
                "azure_writes": list(self.history.azure_writes),
                "attempts": [[a.time, a.step, a.ok, a.target] for a in self.history.attempts],
                "records": [r.to_dict() for r in self.records],
            }

    def load(self, data: dict) -> None:
        try:
            self.applied_ip = data.get("applied_ip")
            self.lng_ip = data.get("lng_ip")
            self.last_lng_write = data.get("last_lng_write")
            self.history.azure_writes = [float(t) for t in data.get("azure_writes", [])]
            self.history.attempts = [
                R.Attempt(
                    float(a[0]),
                    str(a[1]),
                    bool(a[2]),
                    a[3] if len(a) > 3 and isinstance(a[3], str) else None,
                )
                for a in data.get("attempts", [])
            ]
        except (TypeError, ValueError, AttributeError, IndexError, KeyError) as exc:
            log.warning("ignoring unreadable remediation state: %s", exc)

    @property
    def last_finished(self) -> float | None:
        with self._lock:
            done = [r.finished for r in self.records if r.finished is not None]
        return max(done) if done else None

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---- deciding ----------------------------------------------------------------------
    def view(self, health: str, wan_ip: str | None, role: str) -> R.View:
        return R.View(
            self.clock(), health, wan_ip, self.applied_ip, self.lng_ip, role, self.last_lng_write
        )

    def decide(
        self, health: str, wan_ip: str | None, role: str, *, dry_run: bool = False
    ) -> R.Plan:
        """The planner's plan; its memory changes are recorded under the lock unless ``dry_run``
        (a dry run changes nothing: not the memory, not the last plan)."""
        with self._lock:
            view = self.view(health, wan_ip, role)
            history = R.History(list(self.history.attempts), list(self.history.azure_writes))
            decision = R.decide(view, history, self.policy())
            if not dry_run:
                self._record(decision.changes)
                self.last_plan = decision.plan
        return decision.plan

    def _record(self, changes: R.Changes) -> None:
        if changes.applied_ip is not None:
            self.applied_ip = changes.applied_ip
        if changes.clear_attempts:
            self.history.attempts.clear()

    def start(self, plan: R.Plan, wan_ip: str | None) -> bool:
        """Run ``plan`` in the background; False if one is already running."""
        if self.busy or not plan.steps:
            return False
        self._thread = threading.Thread(
            target=self.execute, args=(plan, wan_ip), name="remediation", daemon=True
        )
        self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- running -----------------------------------------------------------------------
    def execute(self, plan: R.Plan, wan_ip: str | None) -> Record:
        rec = Record(self.clock(), plan.reason)
        with self._lock:
            self.records.append(rec)
        log.info("remediation: %s: %s", plan.reason, ", ".join(s.kind for s in plan.steps))
        steps = list(plan.steps)
        target = plan.target
        ok = True
        while steps:
            step = steps.pop(0)
            t0 = time.monotonic()
            crashpoint(f"before:{step.kind}")  # the lab's crash-convergence test
            try:
                detail = self.actions[step.kind](step, wan_ip)
                crashpoint(f"after:{step.kind}")
                if step.kind == "check_lng" and wan_ip and self.lng_ip not in (None, wan_ip):
                    steps = list(R.heal_steps(self.view("DOWN", wan_ip, "standalone")))
                    target = wan_ip
                sr = StepRecord(step.kind, True, time.monotonic() - t0, detail, step.ip)
            except S2SError as exc:
                sr = StepRecord(step.kind, False, time.monotonic() - t0, str(exc), step.ip)
                ok = False
            with self._lock:
                rec.steps.append(sr)
                self.history.attempts.append(R.Attempt(self.clock(), step.kind, sr.ok, target))
            log.log(
                logging.INFO if sr.ok else logging.ERROR,
                "remediation step %s: %s (%.2fs) %s",
                step.kind,
                "ok" if sr.ok else "FAILED",
                sr.seconds,
                sr.detail,
            )
            if not sr.ok:
                self.notify(
                    "err",
                    f"tunnel={self.tunnel.name}{self._lng_field} event=remediation_failed step={step.kind} "
                    f"error={sr.detail}",
                )
                break
        with self._lock:
            rec.finished, rec.ok = self.clock(), ok
            if ok and any(s.kind == "verify" for s in rec.steps) and wan_ip:
                self.applied_ip = wan_ip
                self.history.attempts.clear()
        if ok:
            # "remediated" only when the in-tunnel probe proved it; a ladder rung that went
            # through is an attempt: the health transition to UP is the proof then
            event = (
                "remediated"
                if any(s.kind == "verify" for s in rec.steps)
                else "remediation_attempt"
            )
            self.notify(
                "notice",
                f"tunnel={self.tunnel.name}{self._lng_field} "
                f'event={event} trigger="{plan.reason}" '
                f"steps={','.join(s.kind for s in rec.steps)} "
                f"seconds={rec.finished - rec.started:.1f}",
            )
        return rec

    @property
    def _lng_field(self) -> str:
        """`` lng=<name>`` for the alert lines (the LNG this remediator writes)."""
        return f" lng={self.cfg.azure.local_network_gateway}" if self.cfg.azure else ""

    # ---- the steps ---------------------------------------------------------------------
    def _azure(self, op: str, arg: str | None = None, deadline: float | None = None) -> dict:
        if deadline is None:
            deadline = self.cfg.remediation.azure_deadline
        try:
            return self.worker.call(op, arg, deadline=deadline)
        except S2SError as exc:
            raise StepFailed(f"Azure {op}: {exc}") from None

    def _update_lng(self, step: R.Step, _wan: str | None) -> str:
        res = self._azure("update-lng", step.ip)  # the gate counted the write
        now = self.clock()
        with self._lock:
            self.lng_ip = step.ip
            if res.get("changed"):
                self.last_lng_write = now
        if res.get("changed"):
            return f"LNG gatewayIpAddress {res.get('old_ip')} -> {step.ip} ({res.get('seconds', 0):.1f}s)"
        return f"LNG already had {step.ip}"

    def _check_lng(self, step: R.Step, wan_ip: str | None) -> str:
        lng = self._azure("get-lng", deadline=min(60.0, self.cfg.remediation.azure_deadline))
        with self._lock:
            self.lng_ip = lng.get("ip")
        if wan_ip and self.lng_ip != wan_ip:
            return f"LNG has {self.lng_ip}, WAN is {wan_ip}: healing"
        return f"LNG has {self.lng_ip} (matches the WAN IP)"

    def _reset_connection(self, _step: R.Step, _wan: str | None) -> str:
        self._azure("reset-connection")  # the gate counted the write
        return "connection reset requested"

    def _apply_local_id(self, step: R.Step, _wan: str | None) -> str:
        from .localapply import apply_local_identity

        return apply_local_identity(self.cfg, self.tunnel, self.applied_ip, step.ip)

    def _restart_ike(self, _step: R.Step, _wan: str | None) -> str:
        from . import tunnelctl

        sock = self.cfg.strongswan.vici_socket
        killed = tunnelctl.terminate_ike(self.tunnel.ike, 5, socket_path=sock)
        return ("terminated the stale IKE SA; " if killed else "") + self._initiate_child(
            _step, _wan
        )

    def _initiate_child(self, _step: R.Step, _wan: str | None) -> str:
        from . import tunnelctl

        sock = self.cfg.strongswan.vici_socket
        took = [tunnelctl.initiate_child(c, 15, socket_path=sock) for c in self.tunnel.children]
        return f"initiated {', '.join(self.tunnel.children)} in {sum(took):.2f}s"

    def _verify(self, _step: R.Step, _wan: str | None) -> str:
        p = self.tunnel.probe
        deadline = time.monotonic() + self.cfg.remediation.verify_timeout
        if p is None:
            return "no probe configured: the established SA is the proof"
        last = None
        while time.monotonic() < deadline:
            last = run_probe(p.source, p.target, 1, min(p.timeout, 1.0))
            if last.received:
                return f"in-tunnel ping {p.source} -> {p.target} answered ({last.rtt_avg} ms)"
        why = (last.error or last.detail or "no reply") if last else "no probe ran"
        raise StepFailed(
            f"no in-tunnel ping reply from {p.target} within "
            f"{self.cfg.remediation.verify_timeout:g}s ({why})"
        )
