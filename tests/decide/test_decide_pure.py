"""Decisions are pure: the planner returns the plan and the memory changes; the executor
records them under its lock; a dry run changes nothing."""

import copy
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from s2s_agent import config
from s2s_agent.act.executor import Remediator
from s2s_agent.decide import plan as R
from tests.helpers.fakes import REMEDIATION_CFG


class NoWorker:
    def call(self, op, arg=None, *, deadline=120.0):
        raise AssertionError(f"a decision called Azure: {op}")


@pytest.fixture
def remedy(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent(REMEDIATION_CFG))
    return Remediator(config.load(str(p)), worker=NoWorker(), clock=lambda: 1000.0)


IPS = st.sampled_from([None, "198.51.100.2", "203.0.113.9"])
ATTEMPTS = st.lists(
    st.builds(R.Attempt, st.floats(0, 999), st.sampled_from(R.STEP_KINDS), st.booleans(), IPS),
    max_size=4,
)


@given(
    health=st.sampled_from(["UP", "DOWN", "DEGRADED", "UNKNOWN"]),
    wan=IPS,
    applied=IPS,
    attempts=ATTEMPTS,
    role=st.sampled_from(["standalone", "master", "backup"]),
)
def test_decide_changes_none_of_its_inputs_and_plans_as_if_recorded(
    health, wan, applied, attempts, role
):
    view = R.View(1000.0, health, wan, applied, None, role)
    history = R.History(list(attempts), [1.0])
    before = copy.deepcopy(history)
    decision = R.decide(view, history, R.Policy())
    assert history == before  # nothing recorded by the planner itself
    changes = decision.changes
    assert changes.clear_attempts == (health == "UP" and bool(attempts))
    assert changes.applied_ip == (wan if wan and applied is None and health == "UP" else None)
    # the plan is the one made on the memory with the changes recorded
    recorded = R.History([] if changes.clear_attempts else list(attempts), [1.0])
    view2 = R.View(1000.0, health, wan, changes.applied_ip or applied, None, role)
    assert decision.plan == R.plan(view2, recorded, R.Policy())


def test_a_dry_run_leaves_the_state_identical(remedy):
    remedy.history.attempts.append(R.Attempt(900.0, "restart_ike", False, None))
    before = copy.deepcopy(remedy.to_dict())
    plan = remedy.decide("UP", "198.51.100.2", "standalone", dry_run=True)
    assert plan.steps == ()
    assert remedy.to_dict() == before  # the old code set applied_ip and cleared the attempts
    assert remedy.last_plan is None


def test_a_real_decision_records_the_changes_under_the_lock(remedy):
    remedy.history.attempts.append(R.Attempt(900.0, "restart_ike", False, None))
    plan = remedy.decide("UP", "198.51.100.2", "standalone")
    assert remedy.applied_ip == "198.51.100.2"
    assert remedy.history.attempts == []
    assert remedy.last_plan == plan


def test_the_daemons_plan_command_is_a_dry_run(tmp_path):
    from s2s_agent.daemon import Daemon

    p = tmp_path / "c.yaml"
    text = (
        textwrap.dedent(REMEDIATION_CFG)
        + f"agent: {{state_dir: {tmp_path}, control_socket: {tmp_path}/s.sock}}\n"
    )
    text += "strongswan: {source: swanctl, swanctl: /nonexistent/swanctl, log_file: null}\n"
    p.write_text(text)
    d = Daemon(config.load(str(p)))
    loop = d.remedy_loop
    loop.remedy.worker = NoWorker()
    loop.wan.tracker.current = "198.51.100.2"
    loop.remedy.history.attempts.append(R.Attempt(900.0, "restart_ike", False, None))
    d.tunnels = [{"name": "hq", "health": "UP"}]
    before = copy.deepcopy(loop.to_dict())
    out = d._plan({})
    assert out["plan"]["steps"] == []
    assert loop.to_dict() == before
