"""Formatting of the status document: the ``status`` table, Nagios ``check``, Prometheus.

Pure functions of the status JSON (the daemon returns data, the CLI formats it).
"""

from __future__ import annotations

import json
import re

from .metrics import metrics

__all__ = ["check", "metrics", "plan_text", "status_text", "to_json"]

NAGIOS_OK, NAGIOS_WARNING, NAGIOS_CRITICAL, NAGIOS_UNKNOWN = 0, 1, 2, 3
_NAGIOS_WORD = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}


def to_json(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=False) + "\n"


def human_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def human_age(seconds: float | int | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 120:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def status_text(doc: dict) -> str:
    """The human table of ``s2s-agent status``."""
    lines: list[str] = []
    agent = doc.get("agent") or {}
    if doc.get("source") == "state_file":
        lines.append(
            f"s2s-agent is NOT running ({doc.get('note', 'no control socket')}); last state "
            f"saved {human_age(doc.get('age_seconds'))} ago:"
        )
    else:
        lines.append(
            f"s2s-agent {agent.get('version', '?')} pid {agent.get('pid', '?')}, "
            f"SA source {agent.get('sa_source') or '-'}, up since {agent.get('started', '?')}"
        )
    if agent.get("error"):
        lines.append(f"  error: {agent['error']}")
    logst = agent.get("log")
    if isinstance(logst, dict) and logst.get("state") not in (None, "ok"):
        lines.append(
            f"  charon log {logst.get('path')}: {logst.get('state')} {logst.get('error') or ''}".rstrip()
        )
    header = ("TUNNEL", "HEALTH", "IKE", "CHILD", "ESTABLISHED", "IN", "OUT", "PROBE", "REASONS")
    rows = [header]
    for t in doc.get("tunnels", []):
        kids = t.get("child_states") or {}
        child = ",".join(f"{k}={v or 'missing'}" for k, v in kids.items()) or "-"
        rows.append(
            (
                t.get("name", "?"),
                t.get("health", "?"),
                f"{t.get('ike')}={t.get('ike_state') or 'missing'}",
                child,
                human_age(t.get("established_seconds")),
                human_bytes(t.get("bytes_in")),
                human_bytes(t.get("bytes_out")),
                _probe_text(t.get("probe")),
                ",".join(t.get("reasons") or []) or "-",
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header))]
    for r in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    for t in doc.get("tunnels", []):
        if t.get("remote_host") or t.get("local_host"):
            lines.append(
                f"{t['name']}: {t.get('local_host') or '-'}[{t.get('local_id') or '-'}] <=> "
                f"{t.get('remote_host') or '-'}[{t.get('remote_id') or '-'}], health since {t.get('since')}"
            )
        if t.get("error"):
            lines.append(f"{t['name']}: {t['error']}")
        rem = t.get("remediation")
        if rem:
            lines.append(
                f"{t['name']}: remediation {'on' if rem.get('enabled') else 'off'}, role {rem.get('role')}, "
                f"WAN {rem.get('wan_ip') or '?'}"
                + (f" (pending {rem['wan_candidate']})" if rem.get("wan_candidate") else "")
                + f", applied {rem.get('applied_ip') or '-'}, Azure LNG {rem.get('lng_ip') or '?'}, "
                f"Azure writes {rem.get('azure_writes_last_hour', 0)} in the last hour"
                + (", RUNNING" if rem.get("running") else "")
            )
            if rem.get("lng"):  # which LNG (and where), which WAN now
                lines.append(
                    f"  LNG {rem['lng']} (tunnels {', '.join(rem.get('lng_tunnels') or [])}), "
                    f"WAN source {rem.get('wan_source') or '?'}"
                    f" via {rem.get('wan_interface') or '?'}" + _member_text(rem)
                )
                lines.append(
                    f"  LNG {rem['lng']}: subscription {rem.get('lng_subscription') or '?'}, "
                    f"resource group {rem.get('lng_resource_group') or '?'}, "
                    f"profile {rem.get('lng_profile') or '?'}"
                )
            plan = rem.get("plan") or {}
            if plan.get("blocked"):
                lines.append(f"  blocked: {plan['blocked']}")
        az = t.get("azure")
        if az:
            lines.append(f"{t['name']}: {_azure_text(az)}")
        tr = (t.get("tunnel_remediations") or [None])[0]
        if isinstance(tr, dict):
            result = {True: "ok", False: "FAILED"}.get(tr.get("ok"), "running")
            steps = ", ".join(str(s.get("kind")) for s in tr.get("steps") or [])
            lines.append(f"  tunnel remediation {tr.get('started')}: {result} [{steps}]")
        for r in (t.get("remediations") or [])[:3]:
            steps = ", ".join(
                f"{s['kind']}{'' if s['ok'] else ' FAILED'}" for s in r.get("steps", [])
            )
            result = {True: "ok", False: "FAILED"}.get(r.get("ok"), "running")
            took = f" in {r['seconds']}s" if r.get("seconds") is not None else ""
            lines.append(
                f"  remediation {r.get('started')}: {result}{took}: {r.get('trigger')} [{steps}]"
            )
        for e in t.get("events") or []:
            lines.append(
                f"  {e.get('time') or e.get('seen') or '-'} {e.get('kind')}: {e.get('message')}"
            )
    lngs = [x for x in doc.get("lngs") or [] if isinstance(x, dict)]
    if lngs:
        lines.append("LNGs:")
    for x in lngs:
        lines.extend(_lng_text(x))
    return "\n".join(lines) + "\n"


def _read_age(v: dict) -> str:
    if v.get("age_seconds") is not None:
        return f"read {human_age(v['age_seconds'])} ago"
    return f"read {v.get('read_at') or 'never'}"


def _azure_text(az: dict) -> str:
    """A tunnel's Azure line: its connection as Azure sees it, and its LNG."""
    text = (
        f"Azure sees {az.get('name') or 'the connection'} "
        f"{az.get('status') or az.get('connection_status') or '?'}"
    )
    if az.get("ingress_bytes") is not None or az.get("egress_bytes") is not None:
        text += f", in {human_bytes(az.get('ingress_bytes'))}, out {human_bytes(az.get('egress_bytes'))}"
    text += f" ({_read_age(az)})" + (f"; error: {az['error']}" if az.get("error") else "")
    per = [x for x in az.get("tunnels") or [] if isinstance(x, dict)]
    if per:  # an active-active gateway: Azure's status of each of its tunnels
        text += " [" + ", ".join(f"{x.get('tunnel')} {x.get('status')}" for x in per) + "]"
    lng = az.get("lng")
    if isinstance(lng, dict):
        text += (
            f"; LNG {lng.get('name') or '?'} has {lng.get('ip') or '?'}"
            f" ({lng.get('provisioning_state') or '?'}, {_read_age(lng)})"
        )
        if lng.get("error") and lng.get("error") != az.get("error"):
            text += f"; LNG error: {lng['error']}"
    return text


def _lng_text(x: dict) -> list[str]:
    """One LNG of the ``lngs`` section: where, which tunnels, addresses, budget, last run."""
    az = x.get("azure") if isinstance(x.get("azure"), dict) else {}
    match = {True: "matches the WAN", False: "DIFFERS from the WAN", None: "unknown"}.get(
        x.get("ip_matches_wan"), "?"
    )
    if x.get("azure_stale"):
        match = "read before our last write, re-reading"
    out = [
        f"  {x.get('name')} (subscription {x.get('subscription_id') or '?'}, resource group "
        f"{x.get('resource_group') or '?'}, profile {x.get('profile') or '?'}): tunnels "
        f"{', '.join(x.get('tunnels') or []) or '-'}",
        f"    WAN {x.get('wan_ip') or '?'} ({x.get('wan_source') or '?'}), Azure has "
        f"{az.get('ip') or '?'} ({_read_age(az)}): {match}; applied {x.get('applied_ip') or '-'}",
        f"    Azure writes {x.get('writes_last_hour', 0)}/{x.get('write_limit', '?')} in the last "
        "hour"
        + (", RUNNING" if x.get("running") else "")
        + (
            f"; backing off until {x['backoff_until']} ({x.get('blocked') or 'backoff'})"
            if x.get("backoff_until")
            else (f"; blocked: {x['blocked']}" if x.get("blocked") else "")
        ),
    ]
    if x.get("azure_error"):
        out.append(f"    Azure read error: {x['azure_error']}")
    r = x.get("last_remediation")
    if isinstance(r, dict):
        result = {True: "ok", False: "FAILED"}.get(r.get("ok"), "running")
        took = f" in {r['seconds']}s" if r.get("seconds") is not None else ""
        out.append(f"    last remediation {r.get('started')}: {result}{took}: {r.get('trigger')}")
    return out


def _probe_text(p: dict | None) -> str:
    if not p:
        return "-"
    if p.get("error") and not p.get("received"):
        return "error"
    loss = p.get("loss")
    rtt = p.get("rtt_avg_ms")
    text = f"{loss * 100:.0f}% loss" if isinstance(loss, int | float) else "?"
    if isinstance(rtt, int | float):
        text += f" {rtt:.1f}ms"
    return text


def check(
    doc: dict | None,
    *,
    stale_after: float | None = None,
    error: str | None = None,
    tunnel: str | None = None,
):
    """Nagios plugin result: (exit code, one line with perfdata). The worst tunnel wins
    (DOWN > UNKNOWN > DEGRADED); an LNG in trouble (its last remediation failed, Azure has
    another address than the WAN, Azure's view unreadable) is at least WARNING; the line
    names each failing tunnel and LNG first. ``tunnel``: check that tunnel (and its LNG) only."""
    if doc is None:
        return NAGIOS_UNKNOWN, f"S2S UNKNOWN - {error or 'no status available'}"
    tunnels = [t for t in doc.get("tunnels") or [] if isinstance(t, dict)]
    lngs = [x for x in doc.get("lngs") or [] if isinstance(x, dict)]
    if tunnel is not None:
        names = ", ".join(str(t.get("name")) for t in tunnels) or "none"
        tunnels = [t for t in tunnels if t.get("name") == tunnel]
        if not tunnels:
            return (
                NAGIOS_UNKNOWN,
                f"S2S UNKNOWN - no tunnel {tunnel} in the status (tunnels: {names})",
            )
        lngs = [x for x in lngs if tunnel in (x.get("tunnels") or [])]
    if not tunnels:
        return NAGIOS_UNKNOWN, "S2S UNKNOWN - no tunnels in the status"
    age = doc.get("age_seconds") or 0
    states = [t.get("health") for t in tunnels]
    if "DOWN" in states:
        code = NAGIOS_CRITICAL
    elif "UNKNOWN" in states:
        code = NAGIOS_UNKNOWN
    elif "DEGRADED" in states:
        code = NAGIOS_WARNING
    else:
        code = NAGIOS_OK
    troubles = [(x, _lng_trouble(x)) for x in lngs]
    troubles = [(x, why) for x, why in troubles if why]
    if troubles and code == NAGIOS_OK:
        code = NAGIOS_WARNING
    failing, fine = [], []
    for t in tunnels:
        reasons = ",".join(t.get("reasons") or [])
        text = f"{t.get('name')} {t.get('health')}" + (f" ({reasons})" if reasons else "")
        (fine if t.get("health") == "UP" else failing).append(text)
    failing += [f"LNG {x.get('name')} {why}" for x, why in troubles]
    summary = "; ".join(failing + fine)
    if doc.get("source") == "state_file":
        summary += f"; daemon not running, state {int(age)}s old"
        if stale_after is not None and age > stale_after and code != NAGIOS_CRITICAL:
            code = NAGIOS_UNKNOWN
    perf = []
    for t in tunnels:
        n = _perf_label(t.get("name", "?"))
        perf.append(f"'{n}_up'={1 if t.get('health') == 'UP' else 0};;;0;1")
        for key in ("bytes_in", "bytes_out"):
            if t.get(key) is not None:
                perf.append(f"'{n}_{key}'={t[key]}B")
        p = t.get("probe") or {}
        if isinstance(p.get("loss"), int | float):
            perf.append(f"'{n}_probe_loss'={p['loss'] * 100:.0f}%;;;0;100")
        if isinstance(p.get("rtt_avg_ms"), int | float):
            perf.append(f"'{n}_probe_rtt'={p['rtt_avg_ms'] / 1000:.6f}s")
    for x in lngs:
        n = _perf_label(str(x.get("name", "?")))
        if isinstance(x.get("writes_last_hour"), int):
            limit = x.get("write_limit") if isinstance(x.get("write_limit"), int) else ""
            perf.append(f"'{n}_azure_writes'={x['writes_last_hour']};;{limit};0;{limit}")
        if isinstance(x.get("ip_matches_wan"), bool):
            perf.append(f"'{n}_ip_matches_wan'={int(x['ip_matches_wan'])};;;0;1")
    return code, f"S2S {_NAGIOS_WORD[code]} - {summary} | {' '.join(perf)}"


def _lng_trouble(x: dict) -> str | None:
    """Why an LNG needs an admin's eye, or None."""
    why = []
    last = x.get("last_remediation")
    if isinstance(last, dict) and last.get("ok") is False:
        why.append("remediation failed")
        if x.get("backoff_until"):
            why.append(f"backing off until {x['backoff_until']}")
    az = x.get("azure") if isinstance(x.get("azure"), dict) else {}
    if x.get("ip_matches_wan") is False and not x.get("running"):
        why.append(f"Azure has {az.get('ip')}, WAN is {x.get('wan_ip')}")
    if x.get("azure_error"):
        why.append("Azure's view unreadable")
    return ", ".join(why) or None


def _perf_label(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def plan_text(out: dict, *, dry_run: bool) -> str:
    """``s2s-agent remediate [--dry-run]`` output."""
    lines = [f"via {out.get('via', '?')}"]
    if not out.get("enabled", True):
        lines.append(out.get("reason", "remediation disabled"))
        return "\n".join(lines) + "\n"
    plan = out.get("plan") or {}
    lines.append(
        f"tunnel {out.get('tunnel')}: health {out.get('health')}, role {out.get('role')}, "
        f"WAN IP {out.get('wan_ip') or 'unknown'}"
    )
    lines.append(f"reason: {plan.get('reason') or '-'}")
    if plan.get("blocked"):
        lines.append(f"blocked: {plan['blocked']}")
    steps = plan.get("steps") or []
    verb = "would run" if dry_run else ("running" if out.get("started") else "nothing to run")
    if steps:
        lines.append(
            f"{verb}: "
            + " -> ".join(s["kind"] + (f"({s['ip']})" if s.get("ip") else "") for s in steps)
        )
    else:
        lines.append("no steps: nothing to do now")
    if out.get("running") and not dry_run:
        lines.append("a remediation is already running; see `s2s-agent status`")
    rec = out.get("record")
    if rec:
        for st in rec.get("steps", []):
            lines.append(
                f"  {st['kind']:16s} {'ok' if st['ok'] else 'FAILED':6s} {st['seconds']:7.2f}s  {st['detail']}"
            )
        lines.append(f"result: {'healed' if rec.get('ok') else 'failed'} in {rec.get('seconds')}s")
    return "\n".join(lines) + "\n"


def _member_text(rem: dict) -> str:
    """A gateway group's active member: ``(gateway WAN2GW, tier 2, resolved by kernel)``."""
    parts = []
    if rem.get("wan_gateway"):
        parts.append(f"gateway {rem['wan_gateway']}")
    if rem.get("wan_tier") is not None:
        parts.append(f"tier {rem['wan_tier']}")
    if rem.get("wan_resolver"):
        parts.append(f"resolved by {rem['wan_resolver']}")
    return f" ({', '.join(parts)})" if parts else ""
