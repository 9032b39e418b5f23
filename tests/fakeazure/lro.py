"""Long-running operations of the fake ARM (``Azure-AsyncOperation`` / ``Location`` targets).

An operation answers ``InProgress`` ``polls_left`` times, then -- once the ``on_lng_change``
hook thread (if any) has returned -- ends ``Failed`` (an armed ``faults.lro_fail`` or a hook
that raised) or ``Succeeded``. Ending it sets the resource's ``provisioningState`` (new etag)
and the ``connectionStatus`` of the affected connections: ``Connected``; ``NotConnected``
on failure or when the hook returned ``False``; or the status string the hook returned.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .common import new_etag
from .faults import LroFailure
from .seed import PROVIDER

log = logging.getLogger(__name__)

CONNECTION_STATUSES = ("Unknown", "Connecting", "Connected", "NotConnected")


@dataclass
class Operation:
    """One long-running operation (``Azure-AsyncOperation`` target)."""

    id: str
    resource_key: str
    location: str
    api_version: str
    polls_left: int
    failure: LroFailure | None
    status: str = "InProgress"
    error: dict[str, Any] | None = None
    connections: tuple[str, ...] = ()
    hook: threading.Thread | None = None
    hook_error: str | None = None
    hook_result: Any = None


def run_hook(op: Operation, hook: Callable[[dict, dict], Any], old: dict, new: dict) -> None:
    """Thread body: the lab's "Azure VPN gateway" reacts to the LNG change."""
    try:
        op.hook_result = hook(old, new)
    except Exception as exc:  # the hook is test/lab code: report, never crash the server
        log.exception("on_lng_change hook failed")
        op.hook_error = f"{type(exc).__name__}: {exc}"


def advance(op: Operation, resources: dict[str, dict[str, Any]]) -> None:
    """One status poll: count down ``polls_left``, wait for the hook, then finish."""
    if op.status != "InProgress":
        return
    if op.polls_left > 0:
        op.polls_left -= 1
        return
    if op.hook is not None and op.hook.is_alive():
        return
    finish(op, resources)


def finish(op: Operation, resources: dict[str, dict[str, Any]]) -> None:
    """End ``op``: Failed (armed failure / hook raised) or Succeeded; update the resources."""
    res = resources.get(op.resource_key)
    conn_status = "Connected"
    if op.failure is not None:
        op.status, op.error = "Failed", {"code": op.failure.code, "message": op.failure.message}
        conn_status = "NotConnected"
    elif op.hook_error is not None:
        op.status = "Failed"
        op.error = {
            "code": "InternalServerError",
            "message": (
                f"Applying the new local network gateway configuration failed: {op.hook_error}"
            ),
        }
        conn_status = "NotConnected"
    else:
        op.status = "Succeeded"
        if op.hook_result is False:
            conn_status = "NotConnected"
        elif op.hook_result in CONNECTION_STATUSES:
            conn_status = op.hook_result
    if res is not None and res["type"] != f"{PROVIDER}/connections":
        res["properties"]["provisioningState"] = "Failed" if op.status == "Failed" else "Succeeded"
        res["etag"] = new_etag()
    for cid in op.connections:
        if cid in resources:
            resources[cid]["properties"]["connectionStatus"] = conn_status
