"""Prometheus text exposition format of the status document (``s2s-agent metrics`` and the
node_exporter textfile). Pure function of the status JSON.

Per tunnel (labels ``tunnel``, ``ike``; the LNG series add ``lng``), per LNG (labels ``lng``,
``subscription``, ``resource_group``) and per Azure connection (labels ``lng``,
``connection``). Label values are escaped as the format says (backslash, double quote,
newline); nothing secret is in the status document, so nothing secret is here.
"""

from __future__ import annotations

import math

CONNECTION_STATES = ("Unknown", "Connecting", "Connected", "NotConnected")


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
            value = _number(value)
            if value is None:
                continue
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
    _azure_families(doc, family)
    return "\n".join(out) + "\n"


def _number(value):
    """A sample value as the format wants it; None (no sample) for anything else."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return (
            "NaN"
            if math.isnan(value)
            else ("+Inf" if value > 0 else "-Inf")
            if math.isinf(value)
            else value
        )
    return None


def _lng_labels(x: dict) -> dict:
    return {
        "lng": x.get("name") or "?",
        "subscription": x.get("subscription_id") or "",
        "resource_group": x.get("resource_group") or "",
    }


def _azure_families(doc: dict, family) -> None:
    """The series of several Azure tunnels: tunnel -> LNG, WAN, Azure's view, per LNG."""
    tunnels = [t for t in doc.get("tunnels") or [] if isinstance(t, dict)]
    lngs = [x for x in doc.get("lngs") or [] if isinstance(x, dict)]
    mapped, wan = [], []
    for t in tunnels:
        rem = t.get("remediation") if isinstance(t.get("remediation"), dict) else {}
        if not rem.get("lng"):
            continue
        base = {"tunnel": t.get("name", "?"), "ike": t.get("ike", "?"), "lng": rem["lng"]}
        mapped.append((base, 1))
        wan.append(
            (
                {
                    **base,
                    "source": rem.get("wan_source") or "",
                    "interface": rem.get("wan_interface") or "",
                    "gateway": rem.get("wan_gateway") or "",
                    "address": rem.get("wan_ip") or "",
                },
                1,
            )
        )
    family("s2s_tunnel_lng_info", "The LNG each tunnel's address is written to", "gauge", mapped)
    family(
        "s2s_tunnel_wan_info",
        "The WAN source, interface, gateway (a group's active member) and address each tunnel uses now",
        "gauge",
        wan,
    )
    conns, seen = [], set()
    for t in tunnels:
        az = t.get("azure") if isinstance(t.get("azure"), dict) else None
        rem = t.get("remediation") if isinstance(t.get("remediation"), dict) else {}
        if az is None or not az.get("name") or (rem.get("lng"), az["name"]) in seen:
            continue
        seen.add((rem.get("lng"), az["name"]))
        conns.append(({"lng": rem.get("lng") or "", "connection": az["name"]}, az))
    family(
        "s2s_azure_connection_status",
        "Azure's connectionStatus of each VNG connection, one series per state",
        "gauge",
        [
            ({**lab, "status": st}, 1 if az.get("status") == st else 0)
            for lab, az in conns
            if az.get("status") is not None
            for st in dict.fromkeys((*CONNECTION_STATES, str(az["status"])))
        ],
    )
    for key, what in (("ingress_bytes", "received"), ("egress_bytes", "sent")):
        family(
            f"s2s_azure_connection_{key}",
            f"Bytes Azure counts as {what} on the connection (ingress/egressBytesTransferred)",
            "gauge",
            [(lab, az.get(key)) for lab, az in conns],
        )
    family(
        "s2s_azure_connection_read_age_seconds",
        "Age of Azure's view of the connection",
        "gauge",
        [(lab, az.get("age_seconds")) for lab, az in conns],
    )
    family(
        "s2s_lng_info",
        "Each LNG the agent keeps up to date (profile: the credential profile's name)",
        "gauge",
        [({**_lng_labels(x), "profile": x.get("profile") or ""}, 1) for x in lngs],
    )
    seen_az = [(x, x.get("azure") if isinstance(x.get("azure"), dict) else {}) for x in lngs]
    rows = (
        (
            "s2s_lng_writes_last_hour",
            "Azure writes to the LNG in the last hour",
            "writes_last_hour",
        ),
        ("s2s_lng_write_limit", "Azure writes allowed per LNG and hour", "write_limit"),
        (
            "s2s_lng_backoff_seconds",
            "Seconds until the LNG's next attempt may run",
            "backoff_seconds",
        ),
    )
    for name, text, key in rows:
        family(name, text, "gauge", [(_lng_labels(x), x.get(key)) for x in lngs])
    family(
        "s2s_lng_ip_matches_wan",
        "1 if Azure's gatewayIpAddress equals the WAN address its tunnels use, 0 if not",
        "gauge",
        [(_lng_labels(x), x.get("ip_matches_wan")) for x in lngs],
    )
    family(
        "s2s_lng_remediation_running",
        "1 while a remediation runs",
        "gauge",
        [(_lng_labels(x), bool(x.get("running"))) for x in lngs],
    )
    last = [(x, x.get("last_remediation")) for x in lngs]
    family(
        "s2s_lng_last_remediation_success",
        "1 if the LNG's last finished remediation healed, 0 if it failed",
        "gauge",
        [(_lng_labels(x), r.get("ok")) for x, r in last if isinstance(r, dict)],
    )
    family(
        "s2s_lng_last_remediation_timestamp_seconds",
        "When the LNG's last remediation started (Unix time)",
        "gauge",
        [(_lng_labels(x), r.get("started_ts")) for x, r in last if isinstance(r, dict)],
    )
    family(
        "s2s_lng_azure_read_age_seconds",
        "Age of Azure's view of the LNG",
        "gauge",
        [(_lng_labels(x), az.get("age_seconds")) for x, az in seen_az],
    )
    family(
        "s2s_lng_azure_read_error",
        "1 if the last read of Azure's view of the LNG or its connections failed",
        "gauge",
        [(_lng_labels(x), bool(x.get("azure_error") or az.get("error"))) for x, az in seen_az],
    )
