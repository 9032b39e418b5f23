"""Azure's view of each LNG and of each of its connections, read in the background.

What the agent tells about Azure (``status``, ``metrics``, ``check``, the GUI) comes from
here: per LNG its ``gatewayIpAddress`` and ``provisioningState``, per distinct connection its
``connectionStatus``, traffic counters and ``provisioningState``. Each LNG is read by the
Azure worker of one of its tunnels (``get-view``: the LNG and every distinct connection of
its tunnels in one process, with that LNG's own credential profile and subscription), so:

* one read round per LNG every ``interval`` seconds (``remediation.azure_status_interval``;
  0 = never); active-active tunnels that share a connection cost one connection read;
* the reads run on their own threads, at most :data:`PARALLEL` worker processes at once,
  each with a deadline; the caller (the daemon's main loop) only starts them and never waits;
* every LNG keeps its own result and its own error: a 403 on one subscription leaves the
  other LNGs' views as they are. A failed read keeps the last good data (with its age) and
  says why; the first failure and the recovery are told once each (``notify``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..core.clock import iso
from ..core.errors import S2SError

log = logging.getLogger(__name__)

PARALLEL = 2
"""Worker processes reading Azure's view at once (each costs the SDK's ~56 MiB)."""
READ_DEADLINE = 60.0


@dataclass(frozen=True)
class ViewTarget:
    """One LNG to read: its key and name, the tunnel whose worker reads it, its connections."""

    key: tuple
    lng: str
    tunnel: str
    connections: tuple[str, ...]


def view_targets(cfg) -> list[ViewTarget]:
    """One target per LNG of the Azure tunnels, in config order (connections deduplicated,
    compared case-insensitively as ARM names are)."""
    out: dict[tuple, ViewTarget] = {}
    for t in cfg.azure_tunnels():
        a = t.azure
        cur = out.get(a.lng_key)
        conns = cur.connections if cur else ()
        if a.connection and a.connection.lower() not in {c.lower() for c in conns}:
            conns = (*conns, a.connection)
        out[a.lng_key] = ViewTarget(
            a.lng_key, a.local_network_gateway, cur.tunnel if cur else t.name, conns
        )
    return list(out.values())


def _stamp(item: dict | None, now: float) -> dict | None:
    """A stored item with ``read_at`` / ``checked_at`` as ISO times and its ``age_seconds``."""
    if item is None:
        return None
    out = {k: v for k, v in item.items() if k not in ("read_ts", "checked_ts")}
    read, checked = item.get("read_ts"), item.get("checked_ts")
    out["read_at"] = iso(read) if read else None
    out["checked_at"] = iso(checked) if checked else None
    out["age_seconds"] = round(max(0.0, now - read), 1) if read else None
    return out


class AzureViews:
    """The views of several LNGs; ``worker_for(target)`` gives the worker that reads one."""

    def __init__(
        self,
        targets: list[ViewTarget],
        worker_for: Callable[[ViewTarget], object],
        interval: float,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        notify: Callable[[str, str], None] = lambda sev, msg: None,
        deadline: float = READ_DEADLINE,
    ):
        self.targets = {t.key: t for t in targets}
        self.worker_for = worker_for
        self.interval = interval
        self.clock, self.monotonic, self.notify = clock, monotonic, notify
        self.deadline = deadline
        self._next = dict.fromkeys(self.targets, 0.0)
        self._threads: dict[tuple, threading.Thread] = {}
        self._slots = threading.BoundedSemaphore(PARALLEL)
        self._lock = threading.Lock()
        self.lngs: dict[tuple, dict] = {}  # key -> the LNG's item
        self.conns: dict[tuple, dict[str, dict]] = {}  # key -> lower(name) -> item
        self.failing: dict[tuple, str] = {}  # key -> the error of the last round

    # ---- scheduling (the main loop) -------------------------------------------------------
    def kick(self) -> int:
        """Start the due reads (never blocks); how many started."""
        if self.interval <= 0:
            return 0
        now, started = self.monotonic(), 0
        for key, target in self.targets.items():
            th = self._threads.get(key)
            if now < self._next[key] or (th is not None and th.is_alive()):
                continue
            self._next[key] = now + self.interval
            th = threading.Thread(
                target=self._read, args=(target,), name=f"azure-view-{target.lng}", daemon=True
            )
            self._threads[key] = th
            th.start()
            started += 1
        return started

    def refresh(self, key) -> None:
        """Read this LNG at the next :meth:`kick` (after a remediation wrote it)."""
        if key in self._next:
            self._next[key] = 0.0

    def join(self, timeout: float | None = None) -> None:
        """Wait for the reads in flight (tests, one-shot commands)."""
        for th in list(self._threads.values()):
            th.join(timeout)

    # ---- one read (a worker thread) ---------------------------------------------------------
    def _read(self, target: ViewTarget) -> None:
        with self._slots:
            try:
                res = self.worker_for(target).call("get-view", deadline=self.deadline)
                error = None
            except S2SError as exc:
                res, error = {}, str(exc)
            except Exception as exc:  # a bug must not kill the thread silently
                log.exception("reading Azure's view of %s failed", target.lng)
                res, error = {}, f"{type(exc).__name__}: {exc}"
        self._store(target, res if isinstance(res, dict) else {}, error)

    def _store(self, target: ViewTarget, res: dict, error: str | None) -> None:
        now = self.clock()
        key = target.key
        lng_err = error or _message(res.get("lng_error"))
        if lng_err is None and not isinstance(res.get("lng"), dict):
            lng_err = "the worker returned no LNG"
        got = {
            str(c.get("name") or "").lower(): c
            for c in res.get("connections") or []
            if isinstance(c, dict)
        }
        errors = [] if lng_err is None else [f"LNG {target.lng}: {lng_err}"]
        with self._lock:
            self.lngs[key] = _merge(self.lngs.get(key), res.get("lng"), lng_err, now)
            items = self.conns.setdefault(key, {})
            for name in target.connections:
                c = got.get(name.lower()) or {}
                err = error or _message(c.get("error"))
                if err is None and not isinstance(c.get("view"), dict):
                    err = "the worker returned no view of this connection"
                items[name.lower()] = _merge(items.get(name.lower()), c.get("view"), err, now)
                if err is not None and err != lng_err:
                    errors.append(f"connection {name}: {err}")
            before = self.failing.get(key)
            if errors:
                self.failing[key] = "; ".join(errors)
            else:
                self.failing.pop(key, None)
        if errors and before is None:
            log.warning("reading Azure's view of LNG %s failed: %s", target.lng, errors[0])
            self.notify(
                "warning",
                f"lng={target.lng} event=azure_read_failed error={'; '.join(errors)}",
            )
        elif not errors and before is not None:
            self.notify("notice", f"lng={target.lng} event=azure_read_recovered")

    # ---- what status shows -------------------------------------------------------------------
    def lng_view(self, key) -> dict | None:
        with self._lock:
            return _stamp(self.lngs.get(key), self.clock())

    def connection_view(self, key, name: str | None) -> dict | None:
        if not name:
            return None
        with self._lock:
            return _stamp((self.conns.get(key) or {}).get(name.lower()), self.clock())

    # ---- memory (state.json) ------------------------------------------------------------
    def to_dict(self) -> dict:
        with self._lock:
            return {
                t.lng: {
                    "lng": self.lngs.get(k),
                    "connections": dict(self.conns.get(k) or {}),
                }
                for k, t in self.targets.items()
                if k in self.lngs
            }

    def load(self, data) -> None:
        """The views saved before a restart (shown with their age until the next read)."""
        if not isinstance(data, dict):
            return
        with self._lock:
            for k, t in self.targets.items():
                saved = data.get(t.lng)
                if not isinstance(saved, dict):
                    continue
                if _item_ok(saved.get("lng")):
                    self.lngs[k] = saved["lng"]
                conns = saved.get("connections")
                if isinstance(conns, dict):
                    self.conns[k] = {
                        n.lower(): v for n, v in conns.items() if isinstance(n, str) and _item_ok(v)
                    }


def _message(err) -> str | None:
    if err is None:
        return None
    if isinstance(err, dict):
        return str(err.get("message") or err.get("type") or "unknown error")
    return str(err)


def _merge(old: dict | None, data, error: str | None, now: float) -> dict:
    """A new item from a read: fresh data, or the last good data with the error."""
    if error is None and isinstance(data, dict):
        return {**data, "read_ts": now, "checked_ts": now, "error": None}
    kept = {k: v for k, v in (old or {}).items() if k not in ("checked_ts", "error")}
    return {**kept, "read_ts": kept.get("read_ts"), "checked_ts": now, "error": error}


def _item_ok(item) -> bool:
    return isinstance(item, dict) and all(
        item.get(k) is None
        or (isinstance(item.get(k), int | float) and not isinstance(item.get(k), bool))
        for k in ("read_ts", "checked_ts")
    )
