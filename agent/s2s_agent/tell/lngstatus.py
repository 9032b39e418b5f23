"""What the remedy loops report about Azure: per tunnel Azure's view of its connection and
LNG, per LNG its addresses, write budget, backoff and last remediation (data only; the CLI
and the GUI format it). Nothing here carries a credential: an LNG is named by its name,
subscription, resource group and profile name."""

from __future__ import annotations

from ..act.azureview import AzureViews
from ..core.clock import iso


def lng_fields(target, tunnels) -> dict:
    """A tunnel's ``remediation`` fields naming its LNG (and every tunnel on that LNG)."""
    if target is None:
        return {}
    return {
        "lng": target.local_network_gateway,
        "lng_subscription": target.subscription_id,
        "lng_resource_group": target.resource_group,
        "lng_profile": target.profile,
        "lng_tunnels": [t.name for t in tunnels],
    }


def azure_of(views: AzureViews, target) -> dict | None:
    """A tunnel's ``azure``: Azure's view of its connection (``status``, bytes, ...) with its
    ``read_at``/``age_seconds``/``error``, and of its LNG under ``lng``; None before any read."""
    if target is None:
        return None
    conn = views.connection_view(target.lng_key, target.connection)
    lng = views.lng_view(target.lng_key)
    if conn is None and lng is None:
        return None
    out = {"name": target.connection, "status": None, **(conn or {})}
    out["lng"] = _lng_view(lng, target)
    return out


def _lng_view(seen: dict | None, target) -> dict | None:
    if seen is None:
        return None
    return {"name": target.local_network_gateway, "ip": None, "provisioning_state": None, **seen}


def lng_entry(
    settings,
    tunnels,
    remedy,
    views: AzureViews,
    *,
    wan_ip: str | None,
    running: bool,
) -> dict:
    """One LNG of the status document's ``lngs`` section (``remedy``: the LNG's remediator,
    its memory, plan, write history and config)."""
    key = settings.lng_key
    now = remedy.clock()
    wan = tunnels[0].wan if tunnels else None
    mem = remedy.to_dict()
    plan = remedy.last_plan
    seen = _lng_view(views.lng_view(key), settings)
    azure_ip = (seen or {}).get("ip")
    wait = plan.wait_until if plan is not None else None
    waiting = isinstance(wait, int | float) and wait > now
    records = mem["records"]
    # a view read before our last write says nothing about now (re-read right after a heal)
    writes = remedy.history.writes_last_hour(now)
    age = (seen or {}).get("age_seconds")
    stale = bool(writes) and isinstance(age, int | float) and now - age < max(writes)
    conns: dict[str, str] = {}
    for t in tunnels:
        if t.azure is not None and t.azure.connection:
            conns.setdefault(t.azure.connection.lower(), t.azure.connection)
    return {
        "name": settings.local_network_gateway,
        "subscription_id": settings.subscription_id,
        "resource_group": settings.resource_group,
        "profile": settings.profile,
        "cloud": settings.cloud,
        "tunnels": [t.name for t in tunnels],
        "connections": list(conns.values()),
        "wan_source": wan.describe() if wan is not None else None,
        "wan_ip": wan_ip,
        "applied_ip": mem["applied_ip"],
        "lng_ip": mem["lng_ip"],
        "azure": seen,
        "azure_error": views.failing.get(key),
        "ip_matches_wan": None if stale or not azure_ip or not wan_ip else azure_ip == wan_ip,
        "azure_stale": stale,
        "writes_last_hour": len(remedy.history.writes_last_hour(now)),
        "write_limit": remedy.cfg.remediation.max_azure_writes_per_hour,
        "backoff_until": iso(wait) if waiting else None,
        "backoff_seconds": round(wait - now, 1) if waiting else 0,
        "blocked": plan.blocked if plan is not None else None,
        "plan_reason": plan.reason if plan is not None else None,
        # the loop runs, and this LNG's last record is still open
        "running": running and bool(records) and records[-1].get("ok") is None,
        "last_remediation": records[-1] if records else None,
    }
