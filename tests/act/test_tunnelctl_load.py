"""tunnelctl.load_all judges swanctl like swanctl does: exit status + its per-item lines.

The samples are REAL swanctl 5.9.8 outputs captured in the lab (tests/golden/swanctl-load,
see its README): plugin warnings of a machine without libstrongswan-standard-plugins must
not fail a load; a refused connection must, naming it and charon's reason.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from s2s_agent.act.tunnelctl import _failed_lines, load_all
from s2s_agent.core import osio
from s2s_agent.core.errors import CommandError, LocalApplyError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "swanctl-load"


def sample(name: str) -> dict:
    return json.loads((GOLDEN / f"{name}.json").read_text())


def replay(name: str):
    """A runner that answers like osio.run would have with swanctl's real output."""
    s = sample(name)

    def runner(argv, **kw):
        if s["returncode"] != 0:
            raise CommandError(
                argv,
                f"exited with status {s['returncode']}",
                returncode=s["returncode"],
                stdout=s["stdout"],
                stderr=s["stderr"],
            )
        return osio.Result(tuple(argv), 0, s["stdout"], s["stderr"])

    return runner


def test_samples_are_what_they_claim():
    assert "plugin 'aesni': failed to load" in sample("plugins-missing")["stderr"]
    assert sample("plugins-missing")["returncode"] == 0
    assert sample("bad-proposal")["returncode"] != 0


@pytest.mark.parametrize("name", ["ok", "plugins-missing"])
def test_plugin_warnings_do_not_fail_a_good_load(name):
    res = load_all(runner=replay(name))
    assert "successfully loaded 1 connections" in res.stdout


@pytest.mark.parametrize("name", ["bad-proposal", "bad-proposal-plugins-missing"])
def test_refused_connection_fails_with_swanctls_own_line(name):
    with pytest.raises(LocalApplyError) as err:
        load_all(conf_file="/tmp/bad.conf", runner=replay(name))
    msg = str(err.value)
    assert "loading connection 'bad1' failed: invalid value for: proposals" in msg
    assert "--file /tmp/bad.conf" in msg
    assert "plugin" not in msg and "opening directory" not in msg


def test_refused_connection_fails_even_if_swanctl_exited_0():
    s = sample("bad-proposal-plugins-missing")

    def runner(argv, **kw):
        return osio.Result(tuple(argv), 0, s["stdout"], s["stderr"])

    with pytest.raises(LocalApplyError, match="loading connection 'bad1' failed"):
        load_all(runner=runner)


def test_unreachable_daemon_names_the_socket():
    with pytest.raises(LocalApplyError) as err:
        load_all(uri="unix:///var/run/nobody.vici", runner=replay("no-daemon"))
    assert "connecting to 'unix:///var/run/nobody.vici' failed: No such file" in str(err.value)


def test_failed_lines_cover_every_swanctl_item_kind_and_skip_warnings():
    text = "\n".join(
        [
            "plugin 'openssl': failed to load - openssl_plugin_create not found and no plugin "
            "file available",
            "opening directory '/etc/swanctl/x509' failed: No such file or directory",
            "loading ike secret 'ike-con1' failed: bad",
            "loading pool 'p1' failed: invalid address",
            "loading authority 'ca1' failed: unknown",
            "loaded 1 of 2 pools, 1 failed to load, 0 unloaded",
            "load-conn request failed: Broken pipe",
        ]
    )
    assert _failed_lines(text) == text.splitlines()[2:]


def test_other_exit_without_failure_line_keeps_swanctls_last_line():
    def runner(argv, **kw):
        raise CommandError(
            argv,
            "exited with status 1",
            returncode=1,
            stderr="plugin 'aesni': failed to load - x\nsomething new went wrong\n",
        )

    with pytest.raises(LocalApplyError) as err:
        load_all(runner=runner)
    assert "something new went wrong" in str(err.value) and "aesni" not in str(err.value)


def test_timeout_says_timed_out_not_a_stale_line():
    def runner(argv, **kw):
        raise CommandError(
            argv, "timed out after 15s", stdout="loaded connection 'con1'\n", timed_out=True
        )

    with pytest.raises(LocalApplyError, match="timed out after 15s"):
        load_all(runner=runner)
