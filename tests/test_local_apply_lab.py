"""The local apply path on a real charon: swanctl.conf rewrite + reload, IKE restart, ping.

The backend runs *inside* the onprem namespace (``lab.exec`` + this venv's python), so it
edits the real ``/etc/swanctl/swanctl.conf`` of that side and talks to its
``/var/run/charon.vici`` exactly as on a plain strongSwan host.
"""

from __future__ import annotations

import json
import sys
import time

import pytest

from tests.conftest import ensure_tunnel
from tests.lab import config as labconfig

pytestmark = pytest.mark.lab

NEW_WAN = "192.0.2.77"
OLD_WAN = labconfig.ONPREM_WAN

APPLY = """
import json, sys, time
from s2s_agent.act import swanctl_apply, swanctl_conf, tunnelctl
old, new, broken = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
out = {}
t0 = time.monotonic()
if broken:  # a rewrite that produces a config charon refuses
    real = swanctl_conf.rewrite_local_id
    def bad(text, *a, **kw):
        new_text, changes = real(text, *a, **kw)
        return new_text.replace("aes256-sha256-modp1024", "no-such-proposal", 1), changes
    swanctl_conf.rewrite_local_id = bad
try:
    changes = swanctl_apply.apply_local_id("con1", old, new)
    out["changes"] = [c.key for c in changes]
except tunnelctl.LocalApplyError as exc:
    out["error"] = str(exc)
    out["rolled_back"] = exc.rolled_back
    print(json.dumps(out)); sys.exit(0)
t1 = time.monotonic()
out["terminated"] = tunnelctl.terminate_ike("con1", 3)
t2 = time.monotonic()
out["initiate"] = tunnelctl.initiate_child("con1", 10)
t3 = time.monotonic()
out["ids"] = tunnelctl.conn_local_ids("con1")
out["apply_s"], out["terminate_s"], out["ike_s"] = t1 - t0, t2 - t1, t3 - t2
print(json.dumps(out))
"""


def run_apply(lab, old: str, new: str, *, broken: bool = False) -> dict:
    res = lab.exec(
        "onprem", [sys.executable, "-c", APPLY, old, new, "1" if broken else "0"], timeout=40
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def restore(lab) -> None:
    if lab.wan_ip != OLD_WAN:
        lab.set_wan_ip(OLD_WAN)
    if lab.azure_expects != OLD_WAN:
        lab.reprogram_azure_peer(OLD_WAN)
    lab.reconfigure_onprem(OLD_WAN)  # the generated swanctl.conf, exactly as the lab wrote it
    (lab.dir("onprem") / "etc" / "swanctl" / "swanctl.conf.bak").unlink(missing_ok=True)
    lab.terminate_ike("con1", timeout=3, force=True)
    ensure_tunnel(lab)


def test_wan_move_rewrite_reload_restart_ping(tunnel):
    lab = tunnel
    conf = lab.dir("onprem") / "etc" / "swanctl" / "swanctl.conf"
    original = conf.read_text()
    try:
        t0 = time.monotonic()
        lab.set_wan_ip(NEW_WAN)
        lab.reprogram_azure_peer(NEW_WAN)  # what the Azure LNG update does
        t1 = time.monotonic()
        out = run_apply(lab, OLD_WAN, NEW_WAN)
        assert "error" not in out, out
        assert out["changes"] == ["connections.con1.local_addrs", "connections.con1.local.id"]
        assert out["ids"] == [NEW_WAN]  # charon has loaded the new identity
        lab.wait_for(lambda: lab.ping(1), 10, what="in-tunnel ping after the local apply")
        t2 = time.monotonic()
        text = conf.read_text()
        assert f"id = {NEW_WAN}" in text and f"local_addrs = {NEW_WAN}" in text
        assert (conf.parent / "swanctl.conf.bak").read_text() == original
        print(
            f"\nlocal apply (rewrite+load-all) {out['apply_s'] * 1000:.0f} ms, terminate "
            f"{out['terminate_s'] * 1000:.0f} ms, IKE+CHILD up {out['ike_s'] * 1000:.0f} ms; "
            f"WAN move + azure reprogram {(t1 - t0) * 1000:.0f} ms; apply to first ping "
            f"{(t2 - t1) * 1000:.0f} ms"
        )
    finally:
        restore(lab)


def test_broken_rewrite_rolls_back_and_keeps_the_old_config_loaded(tunnel):
    lab = tunnel
    conf = lab.dir("onprem") / "etc" / "swanctl" / "swanctl.conf"
    original = conf.read_text()
    try:
        out = run_apply(lab, OLD_WAN, NEW_WAN, broken=True)
        assert out.get("rolled_back") is True, out
        assert "rolled back" in out["error"] and "con1" in out["error"]
        assert conf.read_text() == original
        from s2s_agent.act import tunnelctl

        sock = str(lab.vici_socket("onprem"))
        assert tunnelctl.conn_local_ids("con1", socket_path=sock) == [OLD_WAN]
        assert lab.ping(1)  # the running tunnel was never touched
    finally:
        restore(lab)


def test_tunnelctl_from_the_host_against_the_lab(tunnel):
    """terminate/initiate over an explicit socket path; errors carry charon's message."""
    from s2s_agent.act import tunnelctl

    lab = tunnel
    sock = str(lab.vici_socket("onprem"))
    try:
        assert tunnelctl.terminate_ike("con1", 3, socket_path=sock) is True
        assert tunnelctl.terminate_ike("con1", 3, socket_path=sock) is False  # nothing left
        took = tunnelctl.initiate_child("con1", 10, socket_path=sock)
        assert took > 0
        lab.wait_for(lambda: lab.ping(1), 10, what="ping after initiate")
        with pytest.raises(tunnelctl.LocalApplyError) as exc:
            tunnelctl.initiate_child("no-such-child", 3, socket_path=sock)
        assert exc.value.step == "initiate" and "no-such-child" in str(exc.value)
        with pytest.raises(tunnelctl.LocalApplyError, match="does not exist"):
            tunnelctl.terminate_ike("con1", 1, socket_path=sock + ".missing")
    finally:
        ensure_tunnel(lab)
