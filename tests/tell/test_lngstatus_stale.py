"""Right after a heal, Azure's view of the LNG may still be the read from before our write:
status must not call it a mismatch (and `check` must not warn) until it is read again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from s2s_agent.tell import lngstatus, render

NOW = 1_000_000.0
OLD, NEW = "198.51.100.2", "192.0.2.77"


def entry(read_age: float, writes: list[float]) -> dict:
    settings = SimpleNamespace(
        lng_key=("public", "sub", "rg", "lng"),
        local_network_gateway="lng",
        subscription_id="sub",
        resource_group="rg",
        profile="default",
        cloud="public",
    )
    remedy = SimpleNamespace(
        clock=lambda: NOW,
        to_dict=lambda: {"applied_ip": NEW, "lng_ip": NEW, "records": []},
        last_plan=None,
        history=SimpleNamespace(writes_last_hour=lambda now: writes),
        cfg=SimpleNamespace(remediation=SimpleNamespace(max_azure_writes_per_hour=6)),
    )
    views = SimpleNamespace(
        lng_view=lambda key: {
            "ip": OLD,
            "provisioning_state": "Succeeded",
            "age_seconds": read_age,
        },
        failing={},
    )
    tunnel = SimpleNamespace(name="hq", wan=None, azure=None)
    return lngstatus.lng_entry(settings, [tunnel], remedy, views, wan_ip=NEW, running=False)


def test_a_view_read_before_our_write_is_not_a_mismatch():
    x = entry(read_age=4.0, writes=[NOW - 1.0])  # read 4 s ago, written 1 s ago
    assert x["azure_stale"] is True and x["ip_matches_wan"] is None
    text = "\n".join(render._lng_text(x))
    assert "read before our last write, re-reading" in text and "DIFFERS" not in text


@pytest.mark.parametrize("writes", [[], [NOW - 60.0]])
def test_a_view_read_after_the_last_write_still_tells_a_mismatch(writes):
    x = entry(read_age=4.0, writes=writes)
    assert x["azure_stale"] is False and x["ip_matches_wan"] is False
    assert "DIFFERS from the WAN" in "\n".join(render._lng_text(x))
