from pathlib import Path

import pytest

from s2s_agent.config import StrongswanSettings
from s2s_agent.core import osio
from s2s_agent.core.errors import CommandError, SourceError
from s2s_agent.observe.sources import SaSource, vici_list_sas

LAB = Path(__file__).resolve().parents[1] / "golden" / "lab"


class FakeRunner:
    def __init__(self, outputs):
        self.outputs = outputs
        self.calls = []

    def __call__(self, argv, *, timeout, ok_codes=(0,), **_kw):
        self.calls.append((tuple(argv), timeout, tuple(ok_codes)))
        out = self.outputs[argv[-1]]
        if isinstance(out, Exception):
            raise out
        rc, text = out
        if rc not in ok_codes:
            raise CommandError(argv, f"exited with status {rc}: x", returncode=rc)
        return osio.Result(tuple(argv), rc, text, "")


def settings(tmp_path, source="auto", **kw):
    return StrongswanSettings(source=source, vici_socket=str(tmp_path / "charon.vici"), **kw)


def test_statusall_exit_3_without_starter_is_accepted(tmp_path):
    text = (LAB / "single" / "ipsec-statusall.txt").read_text()
    run = FakeRunner({"statusall": (3, text)})
    snap = SaSource(settings(tmp_path, "statusall"), runner=run).fetch()
    assert snap.by_name("con1")[0].state == "ESTABLISHED"
    assert run.calls[0][2] == (0, 3)


def test_statusall_that_did_not_reach_charon(tmp_path):
    run = FakeRunner({"statusall": (3, "")})
    with pytest.raises(SourceError, match="did not reach charon"):
        SaSource(settings(tmp_path, "statusall"), runner=run).fetch()


def test_swanctl_source_and_failure_messages(tmp_path):
    text = (LAB / "multi" / "swanctl-list-sas.txt").read_text()
    src = SaSource(
        settings(tmp_path, "swanctl", command_timeout=4),
        runner=FakeRunner({"--list-sas": (0, text)}),
    )
    assert {i.name for i in src.fetch().ike_sas} == {"con1", "con2", "con3"}
    src.runner = FakeRunner(
        {"--list-sas": CommandError(["swanctl"], "timed out after 4s", timed_out=True)}
    )
    with pytest.raises(SourceError, match="timed out"):
        src.fetch()
    assert "timed out" in src.last_error
    src.runner = FakeRunner({"--list-sas": (0, "\x00\x01 not swanctl output at all {{{")})
    with pytest.raises(SourceError, match="cannot parse"):
        src.fetch()


def test_auto_prefers_vici_socket_then_redetects(tmp_path, monkeypatch):
    sock = tmp_path / "charon.vici"
    sock.write_text("")  # presence is what detection looks at
    calls = []

    def fake_vici(path, timeout):
        calls.append(path)
        raise SourceError("VICI socket refused the connection: charon is not running")

    src = SaSource(settings(tmp_path), vici_fn=fake_vici, runner=FakeRunner({}))
    assert src.detect() == "vici"
    with pytest.raises(SourceError):
        src.fetch()
    assert calls == [str(sock)] and src.kind is None  # re-detect next cycle
    sock.unlink()
    monkeypatch.setenv("PATH", str(tmp_path))  # no swanctl, no ipsec
    with pytest.raises(SourceError, match="no strongSwan interface found"):
        src.fetch()


def test_real_vici_client_errors_are_source_errors(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        vici_list_sas(str(tmp_path / "nope.vici"), 1)
    import socket

    path = str(tmp_path / "dead.vici")
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.close()
    with pytest.raises(SourceError, match="refused"):
        vici_list_sas(path, 1)


def test_real_vici_client_timeout_on_silent_server(tmp_path):
    import socket

    path = str(tmp_path / "silent.vici")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    try:
        with pytest.raises(SourceError, match="did not answer"):
            vici_list_sas(path, 0.3)
    finally:
        srv.close()
