import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s2s_agent import config
from s2s_agent.act.executor import Remediator, StepFailed
from s2s_agent.decide.plan import Attempt, History, Policy, View, backoff, plan

P = Policy(max_azure_writes_per_hour=6, backoff_base=10, backoff_cap=900)


def kinds(p):
    return [s.kind for s in p.steps]


def v(**kw):
    base = dict(now=1000.0, health="UP", wan_ip="192.0.2.77", applied_ip="192.0.2.77")
    base.update(kw)
    return View(**base)


def test_nothing_when_up_disabled_or_backup():
    assert plan(v(), History(), P).steps == ()
    assert "disabled" in plan(v(applied_ip="198.51.100.2"), History(), Policy(enabled=False)).reason
    p = plan(v(applied_ip="198.51.100.2", role="backup"), History(), P)
    assert p.steps == () and "BACKUP" in p.reason


def test_wan_change_heals_in_order():
    p = plan(v(applied_ip="198.51.100.2", health="DOWN"), History(), P)
    assert kinds(p) == ["update_lng", "apply_local_id", "restart_ike", "verify"]
    assert p.steps[0].ip == "192.0.2.77" and "198.51.100.2 -> 192.0.2.77" in p.reason


def test_wan_change_skips_azure_when_it_already_has_the_ip():
    p = plan(v(applied_ip="198.51.100.2", lng_ip="192.0.2.77"), History(), P)
    assert kinds(p) == ["apply_local_id", "restart_ike", "verify"]


def test_write_limit_blocks_azure_writes_until_the_oldest_ages_out():
    h = History(azure_writes=[100.0 + i for i in range(6)])
    p = plan(v(applied_ip="198.51.100.2", now=1000.0), h, P)
    assert p.steps == () and "write limit" in p.blocked and p.wait_until == 3700.0
    assert kinds(plan(v(applied_ip="198.51.100.2", now=3701.0), h, P))[0] == "update_lng"


def test_failed_heal_backs_off():
    h = History(attempts=[Attempt(995.0, "update_lng", False, "192.0.2.77")])
    p = plan(v(applied_ip="198.51.100.2"), h, P)
    assert p.steps == () and p.wait_until == 1005.0
    assert kinds(plan(v(applied_ip="198.51.100.2", now=1005.0), h, P))[0] == "update_lng"


def test_down_ladder_without_ip_change():
    h = History()
    seen = []
    now = 0.0
    for _ in range(6):
        p = plan(v(health="DOWN", now=now), h, P)
        if not p.steps:
            now = p.wait_until
            p = plan(v(health="DOWN", now=now), h, P)
        seen.append((kinds(p)[0], now))
        h.attempts.append(Attempt(now, kinds(p)[0], False))
    assert [k for k, _ in seen] == [
        "initiate_child",
        "restart_ike",
        "check_lng",
        "restart_ike",
        "check_lng",
        "restart_ike",
    ]
    assert [t for _, t in seen] == [0, 10, 30, 70, 150, 310]


def test_reset_connection_rung_only_when_configured_and_after_a_write():
    pol = Policy(reset_connection_after=60)
    h = History(
        attempts=[
            Attempt(0, "initiate_child", False),
            Attempt(10, "restart_ike", False),
            Attempt(30, "check_lng", False),
        ]
    )
    assert kinds(plan(v(health="DOWN", now=500, last_lng_write=480), h, pol)) == ["check_lng"]
    assert kinds(plan(v(health="DOWN", now=500, last_lng_write=100), h, pol)) == [
        "reset_connection"
    ]


def test_first_run_asks_azure_first():
    p = plan(v(health="DOWN", applied_ip=None), History(), P)
    assert kinds(p) == ["check_lng"] and p.steps[0].ip == "192.0.2.77"


def test_unknown_and_degraded_do_nothing():
    assert plan(v(health="UNKNOWN"), History(), P).steps == ()
    assert plan(v(health="DEGRADED"), History(), P).steps == ()


def test_backoff_is_capped():
    assert [backoff(n, P) for n in (1, 2, 3, 4)] == [0, 10, 20, 40]
    assert backoff(50, P) == 900


def test_new_wan_ip_is_not_held_by_earlier_ladder_backoff():
    """An hour of failed DOWN-ladder rungs, then the WAN IP changes: heal at once."""
    ladder = [
        Attempt(t, k, False)
        for t, k in zip(
            range(0, 3600, 360), ["initiate_child", "restart_ike", "check_lng"] * 4, strict=False
        )
    ]
    h = History(attempts=ladder)
    assert (
        plan(v(health="DOWN", applied_ip="192.0.2.77", now=3300.0), h, P).blocked == "backing off"
    )
    p = plan(v(health="DOWN", applied_ip="198.51.100.2", now=3300.0), h, P)
    assert (
        kinds(p) == ["update_lng", "apply_local_id", "restart_ike", "verify"]
        and p.target == "192.0.2.77"
    )
    # a failed heal towards another IP says nothing about this one either
    h2 = History(attempts=[Attempt(3290.0, "update_lng", False, "203.0.113.9")])
    assert kinds(plan(v(applied_ip="198.51.100.2", now=3300.0), h2, P))[0] == "update_lng"
    # ... but the write limit still holds for the new IP
    h3 = History(attempts=ladder, azure_writes=[3000.0 + i for i in range(6)])
    assert plan(v(applied_ip="198.51.100.2", now=3300.0), h3, P).blocked.startswith(
        "Azure write limit"
    )


IPS = ["198.51.100.2", "192.0.2.77", "192.0.2.88"]
LIMIT = 2


class LngWorker:
    """The Azure worker as far as the limit is concerned: an LNG whose every real write
    (a PUT that changed it, a connection reset) is timed."""

    def __init__(self, clock, ip):
        self.clock, self.ip, self.writes = clock, ip, []

    def call(self, op, arg=None, *, deadline=120.0):
        if op == "get-lng":
            return {"ip": self.ip}
        if op == "update-lng":
            old, changed = self.ip, self.ip != arg
            if changed:
                self.writes.append(self.clock[0])
            self.ip = arg
            return {"changed": changed, "old_ip": old, "new_ip": arg}
        if op == "reset-connection":
            self.writes.append(self.clock[0])
            return {"reset": True}
        return {}


@pytest.fixture(scope="module")
def limit_cfg(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "c.yaml"
    p.write_text(
        textwrap.dedent(f"""
        tunnels: [{{name: hq, ike: con1}}]
        azure:
          tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
          client_id: 11111111-2222-3333-4444-555555555555
          client_secret_file: /nonexistent/secret
          subscription_id: 00000000-1111-2222-3333-444444444444
          resource_group: rg-vpn
          local_network_gateway: lng-office
          connection: conn-office
        wan: {{source: interface, interface: wan0}}
        remediation: {{enabled: true, max_azure_writes_per_hour: {LIMIT}, local_backend: none,
                       reset_connection_after: 60, backoff_base: 5, backoff_cap: 60}}
        """)
    )
    return config.load(str(p))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([5, 20, 60, 300]),
            st.sampled_from(IPS),
            st.sampled_from(["UP", "DOWN"]),
            st.sampled_from([None, *IPS]),
        ),
        min_size=1,
        max_size=80,
    )
)
def test_azure_writes_never_exceed_the_limit(limit_cfg, seq):
    """Whatever the WAN IP, the tunnel and the LNG do (another admin editing the LNG, the
    WAN flapping), the executor's real Azure writes never exceed the limit in any hour,
    whichever path (WAN-change heal, ladder check_lng -> update_lng, reset) asked for them,
    and every write is in the remediation memory that state.json keeps."""
    clock = [0.0]
    worker = LngWorker(clock, IPS[0])
    local = {
        "apply_local_id": lambda s, w: "id",
        "restart_ike": lambda s, w: "restarted",
        "initiate_child": lambda s, w: "initiated",
        "verify": lambda s, w: (
            "ok" if worker.ip == w else (_ for _ in ()).throw(StepFailed("no ping"))
        ),
    }
    r = Remediator(limit_cfg, worker=worker, actions=local, clock=lambda: clock[0])
    r.decide("UP", IPS[0], "standalone")
    for dt, wan, health, lng_edit in seq:
        clock[0] += dt
        if lng_edit is not None:
            worker.ip = lng_edit  # changed behind our back: not our write
        p = r.decide(health, wan, "standalone")
        if p.steps:
            r.execute(p, wan)
    for t in worker.writes:
        assert sum(1 for u in worker.writes if t - 3600 < u <= t) <= LIMIT, worker.writes
    assert sorted(worker.writes) == sorted(r.history.azure_writes), (
        "a write the gate did not record"
    )
