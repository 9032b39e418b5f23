"""Formatting of the status document: the ``status`` table, Nagios ``check``, Prometheus.

Pure functions of the status JSON (the daemon returns data, the CLI formats it).
"""

from __future__ import annotations

import json
import re

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
            if rem.get("lng"):  # several Azure tunnels: which LNG, which WAN now
                lines.append(
                    f"  LNG {rem['lng']} (tunnels {', '.join(rem.get('lng_tunnels') or [])}), "
                    f"WAN source {rem.get('wan_source') or '?'}"
                    f" via {rem.get('wan_interface') or '?'}"
                )
            plan = rem.get("plan") or {}
            if plan.get("blocked"):
                lines.append(f"  blocked: {plan['blocked']}")
        az = t.get("azure")
        if az:
            lines.append(
                f"{t['name']}: Azure sees {az.get('status') or az.get('connection_status') or '?'}"
                f", in {human_bytes(az.get('ingress_bytes'))}, out {human_bytes(az.get('egress_bytes'))}"
                f" (read {az.get('read_at') or '?'})"
                + (f"; error: {az['error']}" if az.get("error") else "")
            )
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
    return "\n".join(lines) + "\n"


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


def check(doc: dict | None, *, stale_after: float | None = None, error: str | None = None):
    """Nagios plugin result: (exit code, one line with perfdata)."""
    if doc is None:
        return NAGIOS_UNKNOWN, f"S2S UNKNOWN - {error or 'no status available'}"
    tunnels = doc.get("tunnels") or []
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
    parts = []
    for t in tunnels:
        reasons = ",".join(t.get("reasons") or [])
        parts.append(f"{t.get('name')} {t.get('health')}" + (f" ({reasons})" if reasons else ""))
    summary = "; ".join(parts)
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
    return code, f"S2S {_NAGIOS_WORD[code]} - {summary} | {' '.join(perf)}"


def _perf_label(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _esc(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def metrics(doc: dict) -> str:
    """Prometheus text exposition format (for ``metrics`` and the node_exporter textfile)."""
    out: list[str] = []

    def family(name, help_text, kind, samples):
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            lab = ",".join(f'{k}="{_esc(v)}"' for k, v in labels.items())
            out.append(f"{name}{{{lab}}} {value}" if lab else f"{name} {value}")

    tunnels = doc.get("tunnels") or []

    def per(fn):
        samples = []
        for t in tunnels:
            v = fn(t)
            if v is not None:
                samples.append(({"tunnel": t.get("name", "?"), "ike": t.get("ike", "?")}, v))
        return samples

    family(
        "s2s_agent_running",
        "1 if the daemon answered, 0 if this is its last saved state",
        "gauge",
        [({}, 0 if doc.get("source") == "state_file" else 1)],
    )
    family(
        "s2s_status_age_seconds",
        "Age of the status shown",
        "gauge",
        [({}, doc.get("age_seconds") or 0)],
    )
    family(
        "s2s_tunnel_up",
        "1 if the tunnel is UP",
        "gauge",
        per(lambda t: 1 if t.get("health") == "UP" else 0),
    )
    health = []
    for t in tunnels:
        for state in ("UP", "DEGRADED", "DOWN", "UNKNOWN"):
            health.append(
                (
                    {"tunnel": t.get("name", "?"), "state": state},
                    1 if t.get("health") == state else 0,
                )
            )
    family("s2s_tunnel_health", "Tunnel health, one series per state", "gauge", health)
    family(
        "s2s_tunnel_established_seconds",
        "Seconds since the IKE SA was established",
        "gauge",
        per(lambda t: t.get("established_seconds")),
    )
    for key, text in (
        ("bytes_in", "Bytes received"),
        ("bytes_out", "Bytes sent"),
        ("packets_in", "Packets received"),
        ("packets_out", "Packets sent"),
    ):
        family(
            f"s2s_tunnel_{key}",
            f"{text} by the tunnel's CHILD SAs (resets on rekey)",
            "gauge",
            per(lambda t, k=key: t.get(k)),
        )
    family(
        "s2s_probe_loss_ratio",
        "In-tunnel probe packet loss (0..1)",
        "gauge",
        per(lambda t: (t.get("probe") or {}).get("loss")),
    )
    family(
        "s2s_probe_rtt_seconds",
        "In-tunnel probe average round-trip time",
        "gauge",
        per(
            lambda t: (
                None
                if (t.get("probe") or {}).get("rtt_avg_ms") is None
                else t["probe"]["rtt_avg_ms"] / 1000
            )
        ),
    )
    return "\n".join(out) + "\n"


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
