"""The persisted state (``state_dir/state.json``): its shape, and what to do with a bad one.

Document (written by the daemon with :func:`atomic.write_atomic`)::

    {"version": 1, "saved": <epoch seconds>, "status": {<the status document>},
     "alerts": {<tunnel>: {...}} | null, "remediation": {...} | null}

:func:`problem` checks the shape (pure): valid JSON of the wrong shape must neither stop the
daemon nor make ``status``/``check``/``metrics`` print a traceback. The daemon sets such a
file aside (:func:`set_aside`, nothing is lost) and starts fresh; the CLI reports it.
"""

from __future__ import annotations

import logging
import math
import os
import time
from typing import Any

from .atomic import read_json
from .errors import StateError

log = logging.getLogger(__name__)

STATE_VERSION = 1


def _number(value: Any) -> bool:
    """A time in epoch seconds (a huge int would not even convert to a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return -1e12 < value < 1e12 and math.isfinite(value)


def _tunnels_problem(tunnels: Any) -> str | None:
    if not isinstance(tunnels, list):
        return "status.tunnels is not a list"
    for i, t in enumerate(tunnels):
        if not isinstance(t, dict):
            return f"status.tunnels[{i}] is not an object"
        if not isinstance(t.get("name"), str) or not isinstance(t.get("health"), str):
            return f"status.tunnels[{i}] has no name or health"
        if not isinstance(t.get("reasons", []), list):
            return f"status.tunnels[{i}].reasons is not a list"
        for key in ("probe", "remediation", "azure", "child_states"):
            if t.get(key) is not None and not isinstance(t[key], dict):
                return f"status.tunnels[{i}].{key} is not an object"
        for key in ("events", "remediations"):
            if not isinstance(t.get(key) or [], list) or not all(
                isinstance(e, dict) for e in t.get(key) or []
            ):
                return f"status.tunnels[{i}].{key} is not a list of objects"
    return None


def problem(data: Any) -> str | None:
    """Why ``data`` is not a usable state document, or None (pure)."""
    if not isinstance(data, dict):
        return f"it is a JSON {type(data).__name__}, not an object"
    version = data.get("version")
    if type(version) is not int or version != STATE_VERSION:  # true == 1 in Python
        return f"version is {str(version)[:20]!r}, not {STATE_VERSION}"
    if not _number(data.get("saved")):
        return "saved is not a time"
    status = data.get("status")
    if not isinstance(status, dict):
        return "status is not an object"
    if status.get("agent") is not None and not isinstance(status["agent"], dict):
        return "status.agent is not an object"
    why = _tunnels_problem(status.get("tunnels", []))
    if why:
        return why
    alerts = data.get("alerts")
    if alerts is not None and (
        not isinstance(alerts, dict) or not all(isinstance(v, dict) for v in alerts.values())
    ):
        return "alerts is not an object of objects"
    rem = data.get("remediation")
    if rem is not None:
        if not isinstance(rem, dict):
            return "remediation is not an object"
        if rem.get("wan_ip") is not None and not isinstance(rem["wan_ip"], str):
            return "remediation.wan_ip is not a string"
        if rem.get("azure_view") is not None and not isinstance(rem["azure_view"], dict):
            return "remediation.azure_view is not an object"
    return None


def load(path: str) -> dict:
    """The state document at ``path``; FileNotFoundError when there is none, StateError
    (naming the file and what is wrong) when it cannot be used."""
    data, _mtime = read_json(path)
    why = problem(data)
    if why:
        raise StateError(f"{path} is not a state file of this version ({why}); move it away")
    return data


def set_aside(path: str, *, clock=time.time) -> str | None:
    """Rename an unusable ``path`` to ``path.bad-<UTC time>`` (kept for a post-mortem);
    returns the new name, or None if it could not be moved."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(clock()))
    new = f"{path}.bad-{stamp}"
    try:
        os.replace(path, new)
    except OSError as exc:
        log.error("cannot set the unusable %s aside: %s", path, exc.strerror or exc)
        return None
    return new
