"""The remediation memory per LNG, one format for the single- and the multi-tunnel loop.

A reload may swap the daemon's single-tunnel loop (``RemedyLoop``) and its multi-tunnel loop
(one Azure tunnel <-> several), and the daemon restarts from ``state.json`` written by either.
Whatever the swap, an LNG's memory -- the address last written, Azure's last answer, the
attempts (backoff), the Azure write times (``max_azure_writes_per_hour`` counts per LNG) and
the records -- follows **the LNG** (its key: cloud, subscription, resource group, name; ARM
ids compare case-insensitively), never the loop or a tunnel name:

* ``to_dict`` of both loops holds ``lngs``: LNG id -> that LNG's memory (plus its ``lng``
  name); the top level keeps the remediated tunnel's LNG (``lng_key`` says which), as before;
* a loop loads, for each of its LNGs, the entry of the same id; state written before ids
  (the single loop's top level, the first multi loop's ``lngs`` by name) is read as well;
* an LNG the new config no longer names stays **dormant** in the memory while one of its
  writes is younger than the write window, so removing a tunnel and adding it back (two
  reloads) cannot reset its write count; a changed subscription or resource group is another
  LNG (another Azure resource, with its own count).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from .executor import Record, Remediator, StepRecord
from .writegate import WINDOW

log = logging.getLogger(__name__)

DORMANT_KEPT = 32  # LNGs remembered beyond the config (bounded: the state file stays small)


def lng_id(key: tuple[str, ...]) -> str:
    """The LNG key as one string (the ``lngs`` map's key)."""
    return "/".join(key)


def export(lngs: dict, dormant: dict[str, dict]) -> dict[str, dict]:
    """``lngs`` (LNG key -> :class:`Remediator`) and the dormant entries, by LNG id."""
    out = {
        lng_id(k): {**r.to_dict(), "lng": r.cfg.azure.local_network_gateway}
        for k, r in lngs.items()
    }
    return {**dormant, **out}


def entry_for(data: dict, key: tuple[str, ...], name: str, *, main: bool) -> dict | None:
    """This LNG's saved memory in ``data`` (a loop's ``to_dict``, state.json's
    ``remediation``), or None. ``main``: the LNG of the remediated tunnel, whose memory older
    state files keep at the top level without an ``lng_key``."""
    lid = lng_id(key)
    saved = data.get("lngs") if isinstance(data.get("lngs"), dict) else {}
    entry = saved.get(lid)
    if isinstance(entry, dict):
        return entry
    legacy = saved.get(name)  # the first multi loop keyed its LNGs by name
    if isinstance(legacy, dict) and "lng" not in legacy:
        return legacy
    top = data.get("lng_key", lid if main and not saved else None)
    return data if top == lid else None


def dormant(data: dict, current: Iterable[str], now: float) -> dict[str, dict]:
    """The saved LNGs the config no longer names, with a write inside the window."""
    saved = data.get("lngs") if isinstance(data.get("lngs"), dict) else {}
    keep = {}
    for lid, entry in saved.items():
        if lid in current or not isinstance(entry, dict) or "lng" not in entry:
            continue
        try:
            last = max((float(t) for t in entry.get("azure_writes") or []), default=None)
        except (TypeError, ValueError):
            continue
        if last is not None and now - last < WINDOW:
            keep[lid] = entry
    newest = sorted(keep, key=lambda k: max(map(float, keep[k]["azure_writes"])), reverse=True)
    return {k: keep[k] for k in newest[:DORMANT_KEPT]}


def load_all(lngs: dict, data: dict, main, now: float) -> dict[str, dict]:
    """Load each of ``lngs`` (LNG key -> :class:`Remediator`) from ``data``; returns the
    dormant entries. ``main``: the remediated tunnel's LNG key. State of an odd shape is
    logged and ignored (the daemon starts without it)."""
    try:
        for key, r in lngs.items():
            entry = entry_for(data, key, r.cfg.azure.local_network_gateway, main=key == main)
            if entry is not None:
                restore(r, entry)
        return dormant(data, {lng_id(k) for k in lngs}, now)
    except Exception as exc:  # noqa: BLE001 - persisted state of any odd shape
        log.warning("ignoring unreadable remediation state: %s: %s", type(exc).__name__, exc)
        return {}


def keep_plans(mine: dict, theirs: dict) -> None:
    """After a reload: an LNG without a plan yet shows the old loop's last one."""
    for key, o in theirs.items():
        r = mine.get(key)
        if r is not None and r.last_plan is None:
            r.last_plan = o.last_plan


def restore(r: Remediator, entry: dict) -> None:
    """Load one LNG's memory, its records included (a reload or restart keeps them)."""
    r.load(entry)
    records = []
    for x in entry.get("records") or []:
        rec = _record(x)
        if rec is not None:
            records.append(rec)
    with r._lock:
        r.records.clear()
        r.records.extend(records)


def _record(x) -> Record | None:
    try:
        started = float(x["started_ts"])
        seconds = x.get("seconds")
        rec = Record(started, str(x.get("trigger") or ""))
        rec.finished = None if seconds is None else started + float(seconds)
        rec.ok = x.get("ok") if isinstance(x.get("ok"), bool) else None
        for s in x.get("steps") or []:
            rec.steps.append(
                StepRecord(
                    str(s["kind"]),
                    bool(s["ok"]),
                    float(s.get("seconds") or 0.0),
                    str(s.get("detail") or ""),
                    s.get("ip") if isinstance(s.get("ip"), str) else None,
                )
            )
        return rec
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        log.warning("ignoring an unreadable remediation record: %s", exc)
        return None
