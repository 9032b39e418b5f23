from s2s_agent.tell import render
from tests.helpers.promtext import parse


def doc(health="UP", source="daemon", age=0, **extra):
    t = {
        "name": "azure-hq",
        "ike": "con1",
        "children": ["con1"],
        "health": health,
        "reasons": [] if health == "UP" else ["ike_sa_missing"],
        "since": "2026-11-26T22:00:00+00:00",
        "ike_state": "ESTABLISHED" if health == "UP" else None,
        "child_states": {"con1": "INSTALLED"},
        "established_seconds": 3725,
        "bytes_in": 2048,
        "bytes_out": 100,
        "packets_in": 3,
        "packets_out": 1,
        "local_host": "198.51.100.2",
        "remote_host": "203.0.113.1",
        "local_id": "198.51.100.2",
        "remote_id": "203.0.113.1",
        "probe": {"loss": 0.0, "rtt_avg_ms": 1.5, "sent": 3, "received": 3, "error": None},
        "events": [],
        **extra,
    }
    return {
        "version": 1,
        "source": source,
        "age_seconds": age,
        "agent": {"version": "0.1.0", "pid": 1, "sa_source": "vici", "interval": 10},
        "tunnels": [t],
    }


def test_status_table():
    text = render.status_text(doc())
    assert "azure-hq" in text and "UP" in text and "con1=ESTABLISHED" in text
    assert "2.0 KiB" in text and "1h02m" in text and "0% loss 1.5ms" in text
    assert "198.51.100.2[198.51.100.2] <=> 203.0.113.1[203.0.113.1]" in text


def test_status_table_from_state_file_says_not_running():
    text = render.status_text(doc(source="state_file", age=125))
    assert text.startswith("s2s-agent is NOT running")
    assert "2m05s ago" in text


def test_check_codes():
    assert render.check(doc())[0] == 0
    assert render.check(doc("DEGRADED"))[0] == 1
    code, line = render.check(doc("DOWN"))
    assert code == 2 and line.startswith("S2S CRITICAL - azure-hq DOWN (ike_sa_missing) | ")
    assert "'azure-hq_up'=0;;;0;1" in line and "'azure-hq_bytes_in'=2048B" in line
    assert render.check(doc("UNKNOWN"))[0] == 3
    assert render.check(None, error="daemon not running")[0] == 3


def test_check_stale_state_is_unknown_but_critical_stays():
    assert render.check(doc(source="state_file", age=100), stale_after=30)[0] == 3
    assert render.check(doc(source="state_file", age=10), stale_after=30)[0] == 0
    assert render.check(doc("DOWN", source="state_file", age=100), stale_after=30)[0] == 2


def test_metrics_format():
    text = render.metrics(doc())
    parse(text)  # strictly the exposition format
    lines = text.splitlines()
    assert 's2s_tunnel_up{tunnel="azure-hq",ike="con1"} 1' in lines
    assert 's2s_tunnel_health{tunnel="azure-hq",state="DOWN"} 0' in lines
    assert 's2s_tunnel_bytes_in{tunnel="azure-hq",ike="con1"} 2048' in lines
    assert 's2s_probe_rtt_seconds{tunnel="azure-hq",ike="con1"} 0.0015' in lines
    assert "s2s_agent_running 1" in lines
    # every sample line belongs to a family declared before it
    declared = set()
    for line in lines:
        if line.startswith("# TYPE"):
            declared.add(line.split()[2])
        elif not line.startswith("#"):
            assert line.split("{")[0].split(" ")[0] in declared


def test_metrics_escapes_label_values():
    d = doc()
    d["tunnels"][0]["name"] = 'we"ird\\name'
    assert 'tunnel="we\\"ird\\\\name"' in render.metrics(d)


def test_status_shows_each_tunnels_lng_and_wan_source():
    rem = {
        "enabled": True,
        "role": "standalone",
        "wan_ip": "198.51.100.2",
        "lng": "lng-pfsense",
        "lng_tunnels": ["con1", "con4"],
        "wan_source": "gateway_group WAN_FAILOVER",
        "wan_interface": "igb0",
    }
    text = render.status_text(doc(remediation=rem))
    assert (
        "LNG lng-pfsense (tunnels con1, con4), WAN source gateway_group WAN_FAILOVER via igb0"
        in text
    )
    assert "(tunnels" not in render.status_text(doc(remediation={**rem, "lng": None}))


def test_status_and_metrics_show_a_groups_active_member():
    rem = {
        "enabled": True,
        "role": "standalone",
        "wan_ip": "100.64.0.2",
        "lng": "lng-pfsense",
        "lng_tunnels": ["con1", "con4"],
        "wan_source": "gateway_group WAN_FAILOVER",
        "wan_interface": "igb1",
        "wan_gateway": "WAN2GW",
        "wan_tier": 2,
        "wan_resolver": "pfsense",
    }
    text = render.status_text(doc(remediation=rem))
    assert (
        "WAN source gateway_group WAN_FAILOVER via igb1 (gateway WAN2GW, tier 2, resolved by "
        "pfsense)" in text
    )
    assert 'gateway="WAN2GW",address="100.64.0.2"' in render.metrics(doc(remediation=rem))
