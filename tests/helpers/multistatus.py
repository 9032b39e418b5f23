"""A status document of three Azure tunnels on two LNGs (the shape the daemon returns with
several Azure tunnels), for the tell and pkg tests: con1 + con4 (active-active) on LNG A,
healthy and healed; con2 on LNG B in another subscription, DOWN, its LNG's update failing,
backing off, Azure's view of it denied (403)."""

from __future__ import annotations

import copy

NEW = "198.51.100.9"
OLD = "198.51.100.2"
SUB_A = "6d1c7a0e-52b1-4c59-9d6e-3f0a1b2c3d4e"
SUB_B = "0b5e2c4d-7f6a-4b3c-9d8e-1f2a3b4c5d6e"
READ = "2026-11-30T07:00:00+00:00"
DENIED = (
    "Azure denied reading the local network gateway: client_id 3c1e lacks the action "
    "Microsoft.Network/localNetworkGateways/read (AuthorizationFailed)"
)


def _lng_view(name, ip, error=None):
    return {
        "name": name,
        "ip": ip,
        "provisioning_state": "Succeeded" if ip else None,
        "read_at": READ if ip else None,
        "checked_at": READ,
        "age_seconds": 12.0 if ip else None,
        "error": error,
    }


def _tunnel(name, health, lng, sub, rg, profile, lng_tunnels, azure, applied):
    return {
        "name": name,
        "ike": name,
        "children": [name],
        "health": health,
        "reasons": [] if health == "UP" else ["ike_sa_missing"],
        "since": "2026-11-30T06:59:00+00:00",
        "ike_state": "ESTABLISHED" if health == "UP" else None,
        "child_states": {name: "INSTALLED" if health == "UP" else None},
        "established_seconds": 60 if health == "UP" else None,
        "bytes_in": 840,
        "bytes_out": 840,
        "packets_in": 10,
        "packets_out": 10,
        "local_host": applied,
        "remote_host": "203.0.113.1",
        "local_id": applied,
        "remote_id": "203.0.113.1",
        "probe": None,
        "events": [],
        "azure": azure,
        "remediation": {
            "enabled": True,
            "role": "standalone",
            "role_detail": "",
            "lng": lng,
            "lng_subscription": sub,
            "lng_resource_group": rg,
            "lng_profile": profile,
            "lng_tunnels": lng_tunnels,
            "wan_source": "interface wan0",
            "wan_interface": "wan0",
            "wan_ip": NEW,
            "wan_candidate": None,
            "wan_error": None,
            "applied_ip": applied,
            "lng_ip": applied,
            "running": False,
            "plan": None,
            "azure_writes_last_hour": 1,
        },
        "remediations": [],
        "tunnel_remediations": [],
    }


def multi_doc() -> dict:
    conn_a = {
        "name": "cn-pfsense-azure",
        "status": "Connected",
        "ingress_bytes": 1048576,
        "egress_bytes": 524288,
        "provisioning_state": "Succeeded",
        "read_at": READ,
        "checked_at": READ,
        "age_seconds": 12.0,
        "error": None,
        "lng": _lng_view("lng-pfsense", NEW),
    }
    conn_b = {
        "name": "cn-pfsense-azure-b",
        "status": None,
        "read_at": None,
        "checked_at": READ,
        "age_seconds": None,
        "error": DENIED,
        "lng": _lng_view("lng-pfsense-b", None, DENIED),
    }
    a = ("lng-pfsense", SUB_A, "rg-s2s", "corp", ["con1", "con4"])
    b = ("lng-pfsense-b", SUB_B, "rg-s2s-b", "branch", ["con2"])
    failed = {
        "started": "2026-11-30T06:59:30+00:00",
        "started_ts": 1796108370.0,
        "trigger": "WAN IP changed",
        "ok": False,
        "seconds": 20.0,
        "steps": [{"kind": "update_lng", "ok": False, "seconds": 20.0, "detail": "500", "ip": NEW}],
    }
    healed = {**failed, "ok": True, "seconds": 3.2, "steps": []}
    tunnels = [
        _tunnel("con1", "UP", *a, conn_a, NEW),
        _tunnel("con4", "UP", *a, copy.deepcopy(conn_a), NEW),
        _tunnel("con2", "DOWN", *b, conn_b, OLD),
    ]
    tunnels[2]["remediations"] = [failed]
    tunnels[2]["remediation"]["plan"] = {
        "steps": [],
        "reason": "WAN IP changed",
        "blocked": "backing off after a failed attempt",
        "wait_until": 1796108500.0,
    }

    def lng(name, sub, rg, profile, ts, view, applied, last, **extra):
        return {
            "name": name,
            "subscription_id": sub,
            "resource_group": rg,
            "profile": profile,
            "cloud": "public",
            "tunnels": ts,
            "connections": [view["name"]],
            "wan_source": "interface wan0",
            "wan_ip": NEW,
            "applied_ip": applied,
            "lng_ip": applied,
            "azure": view["lng"],
            "azure_error": view["error"],
            "ip_matches_wan": None if view["lng"]["ip"] is None else view["lng"]["ip"] == NEW,
            "writes_last_hour": 1,
            "write_limit": 6,
            "backoff_until": None,
            "backoff_seconds": 0,
            "blocked": None,
            "plan_reason": "tunnel UP: nothing to do",
            "running": False,
            "last_remediation": last,
            **extra,
        }

    return {
        "version": 1,
        "source": "daemon",
        "age_seconds": 0,
        "generated": "2026-11-30T07:00:12+00:00",
        "agent": {"version": "0.1.0", "pid": 1, "sa_source": "vici", "interval": 10},
        "tunnels": tunnels,
        "lngs": [
            lng(*a, conn_a, NEW, healed),
            lng(
                *b,
                conn_b,
                OLD,
                failed,
                backoff_until="2026-11-30T07:01:40+00:00",
                backoff_seconds=88.0,
                blocked="backing off after a failed attempt",
            ),
        ],
    }
