"""The one gate every Azure write passes through: ``remediation.max_azure_writes_per_hour``.

Whoever asks for a write (a WAN-change heal, the DOWN ladder's ``check_lng`` that found a
stale LNG, the control socket's ``remediate``, the one-shot ``s2s-agent remediate``), the
call reaches Azure only through :meth:`WriteGate.call`, which wraps the Azure worker:

* read operations (``get-lng``, ``get-connection``) pass straight through;
* a write operation (``update-lng``, ``reset-connection``) first takes a slot in the
  hourly window, under a lock (two threads cannot both take the last slot); a full window
  raises :class:`WriteLimitError` without calling Azure;
* the slot is kept when the write happened or may have happened (a time-out, a 5xx, a lost
  worker): the limit protects the gateway, so "maybe" counts. It is given back only when
  Azure certainly changed nothing: ``update-lng`` found the LNG already right (no PUT), it
  failed before sending a PUT (the worker says ``wrote: false``: Azure or the token endpoint
  unreachable at the first read), or Azure refused before any change (credential,
  permission, not found, config error).

The write times live in the shared :class:`~s2s_agent.decide.plan.History`, which the daemon
persists in ``state.json`` and the one-shot mode reads and writes under the same lock file
(:mod:`.runlock`), so a restart or a one-shot run never resets the count.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

from ..core.errors import S2SError
from ..decide.plan import History

log = logging.getLogger(__name__)

WRITE_OPS = frozenset({"update-lng", "reset-connection"})
# errors after which Azure certainly changed nothing (the worker's error type names)
NO_CHANGE_ERRORS = frozenset(
    {
        "ConfigError",
        "AzureAuthError",
        "AzureForbiddenError",
        "AzureNotFoundError",
        "AzureTokenEndpointError",
    }  # no token: no request reached ARM
)
WINDOW = 3600.0


class WriteLimitError(S2SError):
    """The hourly Azure write limit is reached; ``retry_at`` is when a slot frees up."""

    def __init__(self, message: str, *, retry_at: float):
        self.retry_at = retry_at
        super().__init__(message)


class WriteGate:
    """Wraps an Azure worker (anything with ``call(op, arg, *, deadline)``)."""

    def __init__(
        self,
        worker,
        history: History,
        limit: Callable[[], int],
        clock: Callable[[], float],
        lock: threading.Lock | None = None,
    ):
        self.worker = worker
        self.history = history
        self.limit = limit
        self.clock = clock
        self.lock = lock or threading.Lock()

    def writes_last_hour(self) -> int:
        with self.lock:
            return len(self.history.writes_last_hour(self.clock()))

    def call(self, op: str, arg: str | None = None, *, deadline: float = 120.0) -> dict:
        if op not in WRITE_OPS:
            return self.worker.call(op, arg, deadline=deadline)
        slot = self._take_slot(op)
        try:
            res = self.worker.call(op, arg, deadline=deadline)
        except S2SError as exc:
            if (
                getattr(exc, "kind", None) in NO_CHANGE_ERRORS
                or getattr(exc, "wrote", None) is False
            ):
                self._give_back(slot)
            raise
        except BaseException:
            raise  # killed mid-call: the slot stays taken (the write may have happened)
        if op == "update-lng" and not res.get("changed"):
            self._give_back(slot)  # the LNG already had the IP: Azure was only read
        return res

    def _take_slot(self, op: str) -> float:
        with self.lock:
            now = self.clock()
            recent = self.history.writes_last_hour(now)
            limit = self.limit()
            if len(recent) >= limit:
                retry_at = min(recent) + WINDOW
                raise WriteLimitError(
                    f"Azure write limit reached: {len(recent)} of {limit} writes in the last "
                    f"hour (remediation.max_azure_writes_per_hour); {op} not sent, next slot in "
                    f"{max(0.0, retry_at - now):.0f}s",
                    retry_at=retry_at,
                )
            self.history.azure_writes.append(now)
            return now

    def _give_back(self, slot: float) -> None:
        with self.lock, contextlib.suppress(ValueError):
            self.history.azure_writes.remove(slot)
