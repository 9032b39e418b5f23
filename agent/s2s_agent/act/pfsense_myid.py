"""Run the package's PHP helper ``apply-myid.php`` (the pfSense side of the local apply).

:func:`apply_myid` sets one phase 1's "My identifier"; :func:`apply_myids` sets several in
ONE run of the helper: one ``write_config`` (one Config History entry), one
``ipsec_configure``, one wait until charon has loaded every new identifier; the same run
"refreshes" phase 1s whose config needs no change (``--refresh``: "My IP address" on a
gateway group after a failover): when charon's loaded local address or id is not what
pfSense resolves now, IPsec is regenerated at once (no config write) instead of after
rc.ipsec's 12 + 3 s. The helper goes
through pfSense's own config API; the agent never writes config.xml itself. Every run has a
deadline (``timeout``); the child and its children are killed when it expires.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..core import osio
from ..core.errors import CommandError, LocalApplyError

log = logging.getLogger(__name__)

PHP = "/usr/local/bin/php"
HELPER = "/usr/local/libexec/s2s-agent/apply-myid.php"
Runner = Callable[..., osio.Result]


@dataclass(frozen=True)
class MyidResult:
    changed: bool
    old: str | None
    new: str


@dataclass(frozen=True)
class MyidOutcome:
    """One phase 1 of :func:`apply_myids`: ``error`` (naming the phase 1) when it failed.

    ``refresh``: a ``--refresh`` phase 1; ``old``/``new`` are then charon's loaded local
    address before and pfSense's resolved one (``new`` None when it failed before
    resolving), ``changed`` whether charon was reloaded for it."""

    ikeid: int
    changed: bool
    old: str | None
    new: str | None
    error: LocalApplyError | None = None
    refresh: bool = False


@dataclass(frozen=True)
class MyidBatch:
    results: tuple[MyidOutcome, ...]
    pending_applied: bool


def _helper(argv: list[str], runner: Runner, timeout: float, helper: str) -> tuple[int, dict]:
    """Run the PHP helper; its exit status and its JSON answer (LocalApplyError if none)."""
    try:
        res = runner(argv, timeout=timeout, ok_codes=(0, 1, 2))
    except CommandError as exc:
        raise LocalApplyError("apply-myid", f"{' '.join(argv)}: {exc}") from None
    reply = _last_json(res.stdout)
    if reply is None:
        detail = (res.stderr or res.stdout).strip().splitlines()
        raise LocalApplyError(
            "apply-myid",
            f"{helper} exited {res.returncode} without a JSON "
            "answer" + (f": {detail[-1]}" if detail else ""),
        )
    return res.returncode, reply


def _warn_pending(reply: dict, what: str) -> None:
    if reply.get("pending_applied"):
        log.warning(
            "IPsec edits that were pending (not yet applied) under VPN > IPsec were "
            "applied together with %s's new My identifier",
            what,
        )


def apply_myid(
    ikeid: int,
    new_ip: str,
    *,
    runner: Runner = osio.run,
    php: str = PHP,
    helper: str = HELPER,
    timeout: float = 60.0,
) -> MyidResult:
    """Run the package's PHP helper to set phase 1 ``ikeid``'s My identifier to ``new_ip``.

    Contract of apply-myid.php: ``--ikeid N --ip A.B.C.D``; stdout one JSON object
    ``{"changed","old","new","pending_applied"}`` or ``{"error"}``; exit 0 done (and charon
    has loaded the new identifier), 1 could not apply, 2 usage.
    """
    argv = [php, helper, "--ikeid", str(ikeid), "--ip", new_ip]
    code, reply = _helper(argv, runner, timeout, helper)
    if code != 0 or "error" in reply:
        why = reply.get("error", "no reason given")
        raise LocalApplyError(
            "apply-myid",
            f"{helper} could not apply My identifier for phase 1 {ikeid} (exit {code}): {why}",
        )
    if reply.get("new") != new_ip or not isinstance(reply.get("changed"), bool):
        raise LocalApplyError(
            "apply-myid",
            f"{helper} answered {reply!r}, expected new={new_ip!r} and a boolean 'changed'",
        )
    log.info(
        "phase 1 %s My identifier: %s -> %s (%s)",
        ikeid,
        reply.get("old"),
        new_ip,
        "changed" if reply["changed"] else "already right",
    )
    _warn_pending(reply, f"phase 1 {ikeid}")
    return MyidResult(reply["changed"], reply.get("old"), new_ip)


def apply_myids(
    items: list[tuple[int, str]],
    refresh: Iterable[int] = (),
    *,
    runner: Runner = osio.run,
    php: str = PHP,
    helper: str = HELPER,
    timeout: float = 90.0,
) -> MyidBatch:
    """Set the My identifier of several phase 1s (``[(ikeid, ip), ...]``) and refresh
    charon for others (``refresh``: ikeids whose config needs no change) in ONE run of the
    PHP helper: at most one ``write_config``, one ``ipsec_configure``, one wait for charon.

    Contract of apply-myid.php: ``--set IKEID=IP`` per phase 1 to set, ``--refresh IKEID``
    per phase 1 to refresh; stdout ``{"results": [{"ikeid","changed","old","new","error"},
    ...], "pending_applied"}`` (the set ones first); exit 0 all applied, 1 some failed
    (their ``error``), 2 usage (``{"error"}``). A phase 1 that failed is an outcome with
    ``error`` (a LocalApplyError naming it); the others are applied. Raises
    LocalApplyError when the helper as a whole failed (no answer, usage, a wrong answer).
    """
    want = {int(i): ip for i, ip in items}
    ref = list(dict.fromkeys(int(i) for i in refresh))
    if len(want) != len(items) or set(ref) & set(want):
        raise LocalApplyError("apply-myid", f"a phase 1 is named twice in {items!r} {ref!r}")
    if not want and not ref:
        return MyidBatch((), False)
    argv = [php, helper] + [a for i, ip in want.items() for a in ("--set", f"{i}={ip}")]
    argv += [a for i in ref for a in ("--refresh", str(i))]
    code, reply = _helper(argv, runner, timeout, helper)
    rows = reply.get("results")
    if code == 2 or not isinstance(rows, list):
        raise LocalApplyError(
            "apply-myid",
            f"{helper} refused the request (exit {code}): {reply.get('error', reply)!r}",
        )
    out = [_outcome(row, want, ref, helper) for row in rows]
    if sorted(o.ikeid for o in out) != sorted([*want, *ref]):
        raise LocalApplyError(
            "apply-myid",
            f"{helper} answered for phase 1s {[o.ikeid for o in out]}, asked {[*want, *ref]}",
        )
    if code != 0 and all(o.error is None for o in out):
        raise LocalApplyError("apply-myid", f"{helper} exited {code} but reported no failure")
    if want:
        _warn_pending(reply, "phase 1 " + ", ".join(str(i) for i in want))
    elif reply.get("pending_applied"):
        log.warning(
            "IPsec edits that were pending (not yet applied) under VPN > IPsec were applied "
            "when IPsec was regenerated for phase 1 %s's new local address",
            ", ".join(str(i) for i in ref),
        )
    return MyidBatch(tuple(out), bool(reply.get("pending_applied")))


def _outcome(row: Any, want: dict[int, str], ref: list[int], helper: str) -> MyidOutcome:
    """One result row of the helper, checked against what was asked."""
    ok = isinstance(row, dict) and isinstance(row.get("changed"), bool)
    ikeid = row.get("ikeid") if ok else None
    is_ref = ikeid in ref
    if is_ref:
        new = row.get("new")
        ok = (isinstance(new, str) and bool(new)) or (new is None and row.get("error") is not None)
    else:
        ok = ok and want.get(ikeid) == row.get("new")
    if not ok:
        raise LocalApplyError(
            "apply-myid",
            f"{helper} answered {row!r}, not one of the phase 1s asked {want} {ref}",
        )
    err = row.get("error")
    what = "local address" if is_ref else "My identifier"
    if err is not None:
        head = f"phase 1 {ikeid} {what}" + (f" {row['new']}" if row["new"] else "")
        err = LocalApplyError("apply-myid", f"{head}: {err}")
        log.warning("%s", err)
    elif is_ref:
        log.info(
            "phase 1 %s charon's local address: %s -> %s (%s)",
            ikeid,
            row.get("old"),
            row["new"],
            "IPsec regenerated now" if row["changed"] else "already right",
        )
    else:
        log.info(
            "phase 1 %s My identifier: %s -> %s (%s)",
            ikeid,
            row.get("old"),
            row["new"],
            "changed" if row["changed"] else "already right",
        )
    return MyidOutcome(ikeid, row["changed"], row.get("old"), row["new"], err, is_ref)


def _last_json(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                return None
            return value if isinstance(value, dict) else None
    return None
