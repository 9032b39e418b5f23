"""A reload between one Azure tunnel and several while a heal runs (issue 10).

SIGHUP swaps the single-tunnel loop and the multi-tunnel loop (``Daemon._swap_remedy_loop``).
Whatever the direction: the running heal finishes on its own and nothing new starts meanwhile
(never two Azure writes for one LNG), then the new loop adopts the old one's memory by LNG --
its write history (the per-LNG write limit holds across the reload), applied address,
attempts and records -- and decides with the new config. A removed tunnel does not break
status; a changed subscription is another LNG, a changed credential profile is not.
"""

from __future__ import annotations

import textwrap
import threading
import time

import pytest

from s2s_agent import config
from s2s_agent.act.azureworker import AzureCallError
from s2s_agent.daemon import Daemon
from s2s_agent.multiloop import MultiRemedyLoop
from s2s_agent.remedyloop import RemedyLoop

SUB_A = "00000000-1111-2222-3333-444444444444"
SUB_B = "00000000-1111-2222-3333-555555555555"
SUB_C = "00000000-1111-2222-3333-666666666666"
OLD, NEW, NEWER = "198.51.100.2", "198.51.100.9", "198.51.100.77"
A = (SUB_A, "lng-a", "a")  # (subscription, LNG, profile)
B = (SUB_B, "lng-b", "b")


class Azure:
    """Every LNG in every subscription; ``hold`` blocks the writes of one LNG until released.
    Records each write and whether two writes of one LNG ever overlapped."""

    def __init__(self):
        self.writes: list[tuple[str, str, str]] = []  # (subscription, lng, ip)
        self.ips: dict[tuple[str, str], str] = {}
        self.inflight: dict[tuple[str, str], int] = {}
        self.overlaps: list[tuple[str, str]] = []
        self.hold: tuple[str, str] | None = None
        self.release = threading.Event()
        self.entered = threading.Event()
        self.fail: set[tuple[str, str]] = set()
        self.lock = threading.Lock()

    def worker(self, sub: str, lng: str) -> _Worker:
        return _Worker(self, (sub, lng))


class _Worker:
    def __init__(self, az: Azure, key: tuple[str, str]):
        self.az, self.key = az, key

    def call(self, op, arg=None, *, deadline=120.0):
        az = self.az
        if op == "get-lng":
            return {"ip": az.ips.get(self.key, OLD)}
        if op != "update-lng":
            return {}
        with az.lock:
            az.inflight[self.key] = az.inflight.get(self.key, 0) + 1
            if az.inflight[self.key] > 1:
                az.overlaps.append(self.key)
        try:
            if self.key == az.hold:
                az.entered.set()
                az.release.wait(20)
            if self.key in az.fail:
                raise AzureCallError("AzureServerError", "Azure answered 500", status=500)
            old = az.ips.get(self.key, OLD)
            az.ips[self.key] = arg
            az.writes.append((*self.key, arg))
            return {"changed": old != arg, "old_ip": old, "new_ip": arg, "seconds": 0.01}
        finally:
            with az.lock:
                az.inflight[self.key] -= 1


def write_cfg(tmp, tunnels, *, limit=1, profiles=None) -> None:
    """``tunnels``: (ike, (subscription, lng, profile)); one WAN source (interface lo)."""
    for p in ("a", "b"):
        secret = tmp / f"{p}.secret"
        secret.write_text("s")
        secret.chmod(0o600)
    prof = profiles or {
        p: {
            "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "client_id": f"11111111-2222-3333-4444-55555555555{i}",
            "client_secret_file": str(tmp / f"{p}.secret"),
        }
        for i, p in enumerate(("a", "b"))
    }
    rows = "\n".join(
        f"  - {{name: {ike}, ike: {ike}, children: [{ike}], azure: {{profile: {p}, "
        f"subscription_id: {sub}, resource_group: rg, local_network_gateway: {lng}}}}}"
        for ike, (sub, lng, p) in tunnels
    )
    profs = "\n".join(
        f"  {n}: {{tenant_id: {v['tenant_id']}, client_id: {v['client_id']}, "
        f"client_secret_file: {v['client_secret_file']}}}"
        for n, v in prof.items()
    )
    (tmp / "cfg.yaml").write_text(
        textwrap.dedent(f"""
        agent: {{interval: 1, state_dir: {tmp}/state, control_socket: {tmp}/ctl.sock}}
        strongswan: {{source: swanctl, swanctl: /bin/true, log_file: {tmp}/ipsec.log}}
        alerts: {{syslog_socket: {tmp}/nosyslog.sock}}
        wan: {{source: interface, interface: lo, allow_private: true, hold_seconds: 0,
               hold_count: 1, poll_interval: 1}}
        remediation: {{enabled: true, local_backend: none, azure_status_interval: 0,
                       max_azure_writes_per_hour: {limit}}}
        """)
        + f"azure_profiles:\n{profs}\ntunnels:\n{rows}\n"
    )


def rems(loop) -> list:
    """The per-LNG remediators of either loop kind."""
    return list(loop.multi.lngs.values()) if isinstance(loop, MultiRemedyLoop) else [loop.remedy]


def fake(loop, az: Azure, wan: dict, steps: list) -> None:
    """Wire a loop (either kind) to the fake Azure, fake tunnel steps and a fake WAN read."""
    for r in rems(loop):
        r.worker.worker = az.worker(r.cfg.azure.subscription_id, r.cfg.azure.local_network_gateway)
    if isinstance(loop, MultiRemedyLoop):
        loop.multi.actions.update(
            {
                "apply_local_ids": lambda items: steps.append(("apply", len(items))) or "ok",
                "restart_ike": lambda t, s: steps.append(("restart", t.name)) or "ok",
                "verify": lambda t, s: steps.append(("verify", t.name)) or "ok",
            }
        )
    else:
        for k in ("apply_local_id", "restart_ike", "initiate_child", "verify"):
            loop.remedy.actions[k] = lambda s, w, k=k: steps.append((k, None)) or "ok"
    loop.wan.read = lambda settings: (wan["ip"], "")
    loop.wan.next_poll = 0.0


def start(tmp, tunnels, az, wan, steps, **kw) -> Daemon:
    (tmp / "ipsec.log").touch()
    write_cfg(tmp, tunnels, **kw)
    d = Daemon(config.load(str(tmp / "cfg.yaml")))
    fake(d.remedy_loop, az, wan, steps)
    for r in rems(d.remedy_loop):
        r.applied_ip = r.lng_ip = OLD
    d.remedy_loop.wan.tracker.current = OLD
    return d


def health(names, h="DOWN"):
    return [{"name": n, "health": h, "reasons": []} for n in names]


def tick(d, names, h="DOWN"):
    d.tunnels = [{**t, "ike": t["name"]} for t in health(names, h)]
    d.remedy_loop.wan.next_poll = 0.0
    d.remedy_loop.tick(d.tunnels, time.time())


def writes_of(loop, sub, lng) -> list[float]:
    r = next(
        r
        for r in rems(loop)
        if (r.cfg.azure.subscription_id, r.cfg.azure.local_network_gateway) == (sub, lng)
    )
    return list(r.history.azure_writes)


@pytest.fixture
def az():
    a = Azure()
    yield a
    a.release.set()


def test_several_to_one_during_a_multi_heal(tmp_path, az):
    wan, steps = {"ip": NEW}, []
    d = start(tmp_path, [("con1", A), ("con4", A), ("con2", B)], az, wan, steps)
    old = d.remedy_loop
    assert isinstance(old, MultiRemedyLoop)
    az.hold = (SUB_A, "lng-a")
    tick(d, ["con1", "con4", "con2"])
    assert az.entered.wait(5) and old.busy
    # the reload keeps con1 only (same LNG): the single-tunnel loop
    write_cfg(tmp_path, [("con1", A)])
    d.reload()
    new = d.remedy_loop
    assert isinstance(new, RemedyLoop) and not isinstance(new, MultiRemedyLoop)
    fake(new, az, wan, steps)
    assert new.busy and new.predecessor is old  # old code: the multi heal was not seen
    tick(d, ["con1"])
    assert new.status()["remediation"]["running"] is True
    assert not new.remedy.busy  # nothing started beside the running heal
    doc = d.status()  # con2 and con4 are gone from the config: status still answers
    assert [t["name"] for t in doc["tunnels"]] == ["con1"]
    az.release.set()
    old.wait(10)
    tick(d, ["con1"], "UP")
    assert new.predecessor is None and not az.overlaps
    assert sorted(az.writes) == [(SUB_A, "lng-a", NEW), (SUB_B, "lng-b", NEW)]
    # adopted by LNG: lng-a's write (the limit is 1 an hour), its address and its record
    assert len(writes_of(new, SUB_A, "lng-a")) == 1
    assert new.remedy.applied_ip == NEW
    [rec] = new.status()["remediations"]
    assert rec["ok"] is True and "WAN IP changed" in rec["trigger"]
    # the new loop decides with the new config: lng-a only, and its limit holds
    wan["ip"] = NEWER
    tick(d, ["con1"])
    new.wait(5)
    assert len(az.writes) == 2
    assert "write limit" in (new.status()["remediation"]["plan"]["blocked"] or "")
    # lng-b (no tunnel left) stays in the memory while its write counts
    saved = d.remedy_loop.to_dict()["lngs"]
    assert {v["lng"] for v in saved.values()} == {"lng-a", "lng-b"}


def test_one_to_several_during_a_single_heal(tmp_path, az):
    wan, steps = {"ip": NEW}, []
    d = start(tmp_path, [("con1", A)], az, wan, steps)
    old = d.remedy_loop
    assert not isinstance(old, MultiRemedyLoop)
    az.hold = (SUB_A, "lng-a")
    tick(d, ["con1"])
    assert az.entered.wait(5) and old.busy
    write_cfg(tmp_path, [("con1", A), ("con4", A), ("con2", B)])
    d.reload()
    new = d.remedy_loop
    assert isinstance(new, MultiRemedyLoop)
    fake(new, az, wan, steps)
    for r in rems(new):
        if r.cfg.azure.local_network_gateway == "lng-b":
            r.applied_ip = r.lng_ip = OLD
    assert new.busy
    tick(d, ["con1", "con4", "con2"])
    assert not new.multi.busy and az.writes == []  # nothing beside the running heal
    st = d.status()
    assert {t["name"]: t["remediation"]["running"] for t in st["tunnels"]} == dict.fromkeys(
        ("con1", "con4", "con2"), True
    )
    az.release.set()
    old.wait(10)
    tick(d, ["con1", "con4", "con2"])
    new.wait(10)
    assert not az.overlaps
    # lng-a: the single heal's one write, adopted (old code: forgotten, so written again)
    assert sorted(az.writes) == [(SUB_A, "lng-a", NEW), (SUB_B, "lng-b", NEW)]
    assert len(writes_of(new, SUB_A, "lng-a")) == 1
    st = new.tunnel_status()
    assert [r["ok"] for r in st["con1"]["remediations"]][-1] is True
    assert st["con1"]["remediation"]["applied_ip"] == NEW  # adopted, not re-applied
    assert st["con2"]["remediation"]["applied_ip"] == NEW  # the new loop healed lng-b
    # lng-a's limit (1) holds after the reload
    wan["ip"] = NEWER
    tick(d, ["con1", "con4", "con2"])
    new.wait(10)
    assert [w for w in az.writes if w[1] == "lng-a"] == [(SUB_A, "lng-a", NEW)]
    assert "write limit" in (st["con1"]["remediation"]["plan"]["blocked"] or "") or (
        "write limit" in (new.tunnel_status()["con1"]["remediation"]["plan"]["blocked"] or "")
    )


def test_a_multi_reload_keeps_records_and_a_removed_tunnels_state(tmp_path, az):
    wan, steps = {"ip": NEW}, []
    d = start(tmp_path, [("con1", A), ("con4", A), ("con2", B)], az, wan, steps)
    tick(d, ["con1", "con4", "con2"])
    d.remedy_loop.wait(10)
    before = d.remedy_loop.tunnel_status()
    assert before["con1"]["tunnel_remediations"][0]["ok"] is True
    write_cfg(tmp_path, [("con1", A), ("con2", B)])  # con4 removed
    d.reload()
    new = d.remedy_loop
    st = new.tunnel_status()
    assert set(st) == {"con1", "con2"}
    # old code: tunnel records and LNG records were lost by the reload
    assert st["con1"]["tunnel_remediations"] == before["con1"]["tunnel_remediations"]
    assert st["con1"]["remediations"] == before["con1"]["remediations"]
    assert st["con2"]["remediation"]["azure_writes_last_hour"] == 1
    d.tunnels = [{**t, "ike": t["name"]} for t in health(["con1", "con4", "con2"], "UP")]
    assert [t["name"] for t in d.status()["tunnels"]] == ["con1", "con4", "con2"]


def test_a_changed_profile_keeps_the_lngs_memory_a_changed_subscription_does_not(tmp_path, az):
    wan, steps = {"ip": NEW}, []
    d = start(tmp_path, [("con1", A), ("con2", B)], az, wan, steps)
    tick(d, ["con1", "con2"])
    d.remedy_loop.wait(10)
    assert len(az.writes) == 2
    # con2's LNG now uses profile a: the same LNG, so the same memory and write count
    write_cfg(tmp_path, [("con1", A), ("con2", (SUB_B, "lng-b", "a"))])
    d.reload()
    st = d.remedy_loop.tunnel_status()
    assert st["con2"]["remediation"]["azure_writes_last_hour"] == 1
    assert st["con2"]["remediation"]["applied_ip"] == NEW
    # con2 moves to another subscription: another LNG (another Azure resource)
    write_cfg(tmp_path, [("con1", A), ("con2", (SUB_C, "lng-b", "b"))])
    d.reload()
    fake(d.remedy_loop, az, wan, steps)
    st = d.remedy_loop.tunnel_status()
    assert st["con2"]["remediation"]["lng_subscription"] == SUB_C
    assert st["con2"]["remediation"]["azure_writes_last_hour"] == 0
    assert st["con2"]["remediation"]["applied_ip"] is None  # old code: lng-b's, by name
    # and back: lng-b in SUB_B has its write count again (it cannot be written beyond it)
    write_cfg(tmp_path, [("con1", A), ("con2", B)])
    d.reload()
    fake(d.remedy_loop, az, wan, steps)
    st = d.remedy_loop.tunnel_status()
    assert st["con2"]["remediation"]["azure_writes_last_hour"] == 1
    wan["ip"] = NEWER
    tick(d, ["con1", "con2"])
    d.remedy_loop.wait(10)
    assert len(az.writes) == 2  # both LNGs are at their limit (1 an hour)


def test_a_restart_reads_either_loops_state_by_lng(tmp_path, az):
    """state.json of the single loop (older files: no lng_key) feeds the multi loop's LNG
    of the same key, and the multi loop's state feeds the single loop."""
    wan, steps = {"ip": NEW}, []
    d = start(tmp_path, [("con1", A)], az, wan, steps)
    tick(d, ["con1"])
    d.remedy_loop.wait(10)
    d.persist(time.time(), force=True)
    d.remedy_loop.close()
    state = tmp_path / "state" / "state.json"
    import json

    doc = json.loads(state.read_text())
    for k in ("lng_key", "lngs"):  # the single loop's state as written before
        doc["remediation"].pop(k, None)
    state.write_text(json.dumps(doc))
    write_cfg(tmp_path, [("con1", A), ("con2", B)])
    d2 = Daemon(config.load(str(tmp_path / "cfg.yaml")))
    st = d2.remedy_loop.tunnel_status()
    assert st["con1"]["remediation"]["azure_writes_last_hour"] == 1
    assert st["con1"]["remediation"]["applied_ip"] == NEW
    assert st["con2"]["remediation"]["azure_writes_last_hour"] == 0
    assert len(st["con1"]["remediations"]) == 1
    d2.persist(time.time(), force=True)
    d2.remedy_loop.close()
    write_cfg(tmp_path, [("con2", B)])
    d3 = Daemon(config.load(str(tmp_path / "cfg.yaml")))
    assert d3.remedy_loop.status()["remediation"]["applied_ip"] is None
    write_cfg(tmp_path, [("con1", A)])
    d4 = Daemon(config.load(str(tmp_path / "cfg.yaml")))
    assert d4.remedy_loop.status()["remediation"]["azure_writes_last_hour"] == 1
    for x in (d3, d4):
        x.remedy_loop.close()


def test_disabling_and_enabling_remediation_by_reload_keeps_the_lngs_memory(tmp_path, az):
    """Old code dropped the loop when a reload disabled remediation: enabling it again
    started from nothing (the write count per LNG reset, a running heal unseen)."""
    wan, steps = {"ip": NEW}, []
    tunnels = [("con1", A), ("con2", B)]
    d = start(tmp_path, tunnels, az, wan, steps)
    az.hold = (SUB_A, "lng-a")
    tick(d, ["con1", "con2"])
    assert az.entered.wait(5)
    text = (tmp_path / "cfg.yaml").read_text()
    (tmp_path / "cfg.yaml").write_text(text.replace("enabled: true", "enabled: false"))
    d.reload()
    assert d.remedy_loop is None
    d.persist(time.time(), force=True)  # the memory is still saved while disabled
    import json

    saved = json.loads((tmp_path / "state" / "state.json").read_text())["remediation"]
    assert {v["lng"] for v in saved["lngs"].values()} == {"lng-a", "lng-b"}
    (tmp_path / "cfg.yaml").write_text(text)
    d.reload()  # enabled again while the heal still runs
    new = d.remedy_loop
    fake(new, az, wan, steps)
    assert new.busy
    tick(d, ["con1", "con2"])
    assert not new.multi.busy
    az.release.set()
    new.wait(10)
    tick(d, ["con1", "con2"], "UP")
    assert new.predecessor is None and not az.overlaps
    st = new.tunnel_status()
    assert [st[n]["remediation"]["azure_writes_last_hour"] for n in ("con1", "con2")] == [1, 1]
    wan["ip"] = NEWER
    tick(d, ["con1", "con2"])
    new.wait(10)
    assert len(az.writes) == 2  # the limit (1 an hour per LNG) still holds


def test_a_tunnel_added_to_a_healed_lng_gets_its_own_id_applied(tmp_path, az):
    """One -> several after the single loop healed lng-a: con4 (added, same LNG) still has
    the old local id. Old code only ran the DOWN ladder (restarts) for it, forever."""
    wan, steps = {"ip": NEW}, []
    d = start(tmp_path, [("con1", A)], az, wan, steps)
    tick(d, ["con1"])
    d.remedy_loop.wait(10)
    assert az.writes == [(SUB_A, "lng-a", NEW)]
    write_cfg(tmp_path, [("con1", A), ("con4", A)], limit=5)
    d.reload()
    new = d.remedy_loop
    fake(new, az, wan, steps)
    applied = []
    new.multi.actions["apply_local_ids"] = lambda items: (
        applied.append([(t.name, old, ip) for t, old, ip in items]) or "ok"
    )
    d.tunnels = [
        {"name": "con1", "ike": "con1", "health": "UP", "reasons": []},
        {"name": "con4", "ike": "con4", "health": "DOWN", "reasons": []},
    ]
    new.tick(d.tunnels, time.time())
    new.wait(10)
    assert applied == [[("con4", None, NEW)]]  # its old id is unknown: charon is asked
    assert ("restart", "con4") in steps and ("restart", "con1") not in steps
    assert az.writes == [(SUB_A, "lng-a", NEW)]  # no second write
    st = new.tunnel_status()
    assert st["con4"]["tunnel_remediations"][0]["ok"] is True
    d.tunnels[1]["health"] = "UP"
    new.tick(d.tunnels, time.time())
    assert not new.multi.busy and new.multi.tunnel_ips["con4"] == NEW
    assert new.to_dict()["tunnel_ips"] == {"con1": NEW, "con4": NEW}
