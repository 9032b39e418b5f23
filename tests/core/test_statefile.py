"""state.json of the wrong shape: the daemon starts anyway, the CLI says what is wrong."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import pytest

from s2s_agent import config
from s2s_agent.core import statefile
from s2s_agent.core.errors import StateError
from s2s_agent.daemon import Daemon

GOOD_STATUS = {
    "version": 1,
    "source": "daemon",
    "agent": {"interval": 10},
    "tunnels": [{"name": "hq", "ike": "con1", "health": "UP", "reasons": []}],
}

BAD = {
    "alerts a list": {"version": 1, "saved": 1.0, "status": GOOD_STATUS, "alerts": []},
    "remediation a string": {"version": 1, "saved": 1.0, "status": GOOD_STATUS, "remediation": "x"},
    "version true": {"version": True, "saved": 1.0, "status": GOOD_STATUS},
    "version a string": {"version": "1", "saved": 1.0, "status": GOOD_STATUS},
    "saved missing": {"version": 1, "status": GOOD_STATUS},
    "status a list": {"version": 1, "saved": 1.0, "status": []},
    "tunnels a string": {"version": 1, "saved": 1.0, "status": {"tunnels": "hq"}},
    "tunnel without health": {"version": 1, "saved": 1.0, "status": {"tunnels": [{"name": "hq"}]}},
    "probe a number": {
        "version": 1,
        "saved": 1.0,
        "status": {"tunnels": [{"name": "hq", "health": "UP", "probe": 3}]},
    },
    "a list": [1, 2],
    "wan_ip a number": {
        "version": 1,
        "saved": 1.0,
        "status": GOOD_STATUS,
        "remediation": {"wan_ip": 5},
    },
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_problem_names_what_is_wrong(name):
    assert statefile.problem(BAD[name])


def test_good_state_has_no_problem():
    assert (
        statefile.problem(
            {"version": 1, "saved": 1.0, "status": GOOD_STATUS, "alerts": {}, "remediation": None}
        )
        is None
    )


def test_alert_tracker_load_ignores_odd_entries():
    from s2s_agent.tell.alerts import AlertTracker

    t = AlertTracker()
    t.load(
        {
            "a": [1],
            "b": {"health": "DOWN", "reasons": "xy", "since": 1},
            "c": {"health": "UP", "since": 10**400},
            "d": {"health": "UP", "since": True},
            "ok": {"health": "DOWN", "reasons": ["x"], "since": 5},
        }
    )
    assert list(t.states) == ["ok"]
    t.load([1, 2])  # not even a mapping


@pytest.fixture
def cfgfile(tmp_path):
    text = textwrap.dedent(f"""
        agent: {{interval: 1, state_dir: {tmp_path}/state, control_socket: {tmp_path}/ctl.sock}}
        strongswan: {{source: swanctl, swanctl: /nonexistent/swanctl, log_file: null}}
        tunnels: [{{name: hq, ike: con1}}]
    """)
    (tmp_path / "cfg.yaml").write_text(text)
    (tmp_path / "state").mkdir()
    return tmp_path / "cfg.yaml"


def cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "s2s_agent", *args], capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize(
    "name", ["alerts a list", "remediation a string", "version true", "tunnels a string"]
)
def test_daemon_starts_and_sets_the_bad_file_aside(cfgfile, name):
    state = cfgfile.parent / "state" / "state.json"
    state.write_text(json.dumps(BAD[name]))
    d = Daemon(config.load(str(cfgfile)))
    assert not state.exists()
    [aside] = [p for p in os.listdir(state.parent) if p.startswith("state.json.bad-")]
    assert json.loads((state.parent / aside).read_text()) == BAD[name]  # nothing lost
    d.cycle()
    assert statefile.problem(json.loads(state.read_text())) is None


def test_daemon_starts_on_a_deeply_nested_state(cfgfile):
    state = cfgfile.parent / "state" / "state.json"
    state.write_text("[" * 100000 + "]" * 100000)
    Daemon(config.load(str(cfgfile)))
    assert not state.exists()


def test_daemon_starts_with_a_fifo_as_state(cfgfile):
    state = cfgfile.parent / "state" / "state.json"
    os.mkfifo(state)
    th = threading.Thread(target=lambda: Daemon(config.load(str(cfgfile))), daemon=True)
    th.start()
    th.join(5)
    assert not th.is_alive(), "the daemon blocked opening a FIFO"
    assert not state.exists()


@pytest.mark.parametrize(
    "name", ["alerts a list", "remediation a string", "tunnels a string", "probe a number"]
)
def test_status_check_metrics_give_a_clear_error(cfgfile, name):
    state = cfgfile.parent / "state" / "state.json"
    state.write_text(json.dumps(BAD[name]))
    r = cli("check", "-c", str(cfgfile))
    assert r.returncode == 3 and r.stdout.startswith("S2S UNKNOWN - "), (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    for cmd in (["status"], ["status", "--json"], ["metrics"]):
        r = cli(*cmd, "-c", str(cfgfile))
        assert r.returncode == 3, (cmd, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr and "state" in r.stderr


def test_status_and_check_on_a_fifo_do_not_hang(cfgfile):
    os.mkfifo(cfgfile.parent / "state" / "state.json")
    r = cli("check", "-c", str(cfgfile))
    assert r.returncode == 3 and "FIFO" in r.stdout


def test_load_raises_state_error():
    with pytest.raises(FileNotFoundError):
        statefile.load("/nonexistent/state.json")


def test_load_shape(tmp_path):
    p = tmp_path / "state.json"
    p.write_text(json.dumps(BAD["alerts a list"]))
    with pytest.raises(StateError, match="alerts is not an object"):
        statefile.load(str(p))
