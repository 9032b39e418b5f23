"""Reload in-process: any bad file keeps the running config, a running remediation is never
waited for (the new loop adopts it), nothing leaks; and the Azure-view thread."""

from __future__ import annotations

import socket
import textwrap
import threading
import time

import pytest

from s2s_agent import config
from s2s_agent.act.azureworker import AzureCallError
from s2s_agent.daemon import Daemon
from s2s_agent.decide.plan import Plan, Step
from s2s_agent.remedyloop import RemedyLoop
from s2s_agent.tell.syslogsend import SyslogSender


def base(tmp_path, log_file="ipsec.log") -> str:
    (tmp_path / log_file).touch()
    swanctl = tmp_path / "swanctl"
    if not swanctl.exists():
        swanctl.write_text("#!/bin/sh\nexit 0\n")
        swanctl.chmod(0o755)
    return textwrap.dedent(f"""
        agent: {{interval: 1, state_dir: {tmp_path}/state, control_socket: {tmp_path}/ctl.sock}}
        strongswan: {{source: swanctl, swanctl: {swanctl}, log_file: {tmp_path}/{log_file}}}
        alerts: {{syslog_socket: {tmp_path}/syslog.sock}}
        tunnels: [{{name: hq, ike: con1}}]
    """)


def remediation(tmp_path) -> str:
    secret = tmp_path / "secret"
    secret.write_text("s")
    secret.chmod(0o600)
    return textwrap.dedent(f"""
        azure: {{tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47,
                 client_id: 11111111-2222-3333-4444-555555555555, client_secret_file: {secret},
                 subscription_id: 00000000-1111-2222-3333-444444444444, resource_group: rg,
                 local_network_gateway: lng, connection: conn,
                 authority: "https://127.0.0.1:9/", arm_endpoint: "https://127.0.0.1:9/"}}
        wan: {{source: interface, interface: lo, allow_private: true}}
        remediation: {{enabled: true, local_backend: none, azure_status_interval: 1}}
    """)


@pytest.fixture
def syslog(tmp_path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(tmp_path / "syslog.sock"))
    s.settimeout(0.2)
    yield s
    s.close()


def lines(sock) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            return out


def daemon(tmp_path, text) -> Daemon:
    (tmp_path / "cfg.yaml").write_text(text)
    cfg = config.load(str(tmp_path / "cfg.yaml"))
    return Daemon(cfg, sender=SyslogSender(cfg.alerts.syslog_socket))


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("tunnels: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ("agent: {interval: " + "9" * 400 + "}\ntunnels: [{ike: c}]\n", "far too large"),
        ('agent: {state_dir: "/a\\0b"}\ntunnels: [{ike: c}]\n', "NUL"),
        (
            "tunnels: [{ike: c}]\nwan: {source: http, http_endpoints: [https://api.ipify..org/, https://b/]}\n",
            "not a valid host name",
        ),
    ],
)
def test_a_bad_file_of_any_kind_keeps_the_running_config(tmp_path, syslog, bad, words):
    d = daemon(tmp_path, base(tmp_path))
    old = d.cfg
    (tmp_path / "cfg.yaml").write_text(bad)
    d.reload()  # old code: RecursionError / OverflowError escaped and ended the daemon
    assert d.cfg is old
    [msg] = [m for m in lines(syslog) if "event=reload_failed" in m]
    assert words in msg


def test_reload_closes_the_old_sender_and_a_tailer_it_no_longer_needs(tmp_path, syslog):
    d = daemon(tmp_path, base(tmp_path))
    old_sender, old_tailer = d.sender, d.observer.tailer
    d.sender.send("notice", "hello")  # opens its socket
    assert old_sender._sock is not None and old_tailer._cur is not None
    (tmp_path / "cfg.yaml").write_text(base(tmp_path, log_file="other.log"))
    d.reload()
    assert d.sender is not old_sender and old_sender._sock is None
    assert d.observer.tailer is not old_tailer and old_tailer._cur is None
    kept = d.observer.tailer
    d.reload()  # same log file: the same tailer goes on (no re-read)
    assert d.observer.tailer is kept


def test_reload_during_a_remediation_does_not_wait_and_the_new_loop_adopts_it(tmp_path, syslog):
    d = daemon(tmp_path, base(tmp_path) + remediation(tmp_path))
    loop = d.remedy_loop
    gate = threading.Event()
    loop.remedy.actions["initiate_child"] = lambda step, wan: (gate.wait(20), "initiated")[1]
    assert loop.remedy.start(Plan((Step("initiate_child", "127.0.0.1"),), "test heal"), "127.0.0.1")
    releaser = threading.Timer(3, gate.set)  # old code waited for this in reload()
    releaser.start()
    try:
        t0 = time.monotonic()
        d.reload()
        assert time.monotonic() - t0 < 1
        new = d.remedy_loop
        assert new is not loop and new.predecessor is loop and new.busy
        tunnels = [{"name": "hq", "health": "DOWN", "reasons": []}]
        new.tick(tunnels)  # nothing new starts while the old remediation runs
        assert not new.remedy.busy and new.status()["remediation"]["running"] is True
        assert d._remediate({})["started"] is False
        assert d._plan({})["running"] is True
    finally:
        gate.set()
        releaser.cancel()
    loop.remedy.wait(5)
    new.tick([{"name": "hq", "health": "UP", "reasons": []}])
    assert new.predecessor is None
    assert [r["trigger"] for r in new.remedy.to_dict()["records"]] == ["test heal"]


def test_reload_that_disables_remediation(tmp_path, syslog):
    d = daemon(tmp_path, base(tmp_path) + remediation(tmp_path))
    (tmp_path / "cfg.yaml").write_text(base(tmp_path))
    d.reload()
    assert d.remedy_loop is None and d._plan({})["enabled"] is False


class FakeWorker:
    def __init__(self):
        self.fail: str | None = None
        self.calls: list[str] = []

    def call(self, op, arg=None, *, deadline=120.0):
        self.calls.append(op)
        if self.fail:
            raise AzureCallError("AzureServerError", self.fail)
        conn = {"status": "Connected", "ingress_bytes": 10, "egress_bytes": 20}
        return {
            "lng": {"name": "lng", "ip": "192.0.2.1", "provisioning_state": "Succeeded"},
            "lng_error": None,
            "connections": [{"name": "conn", "view": conn, "error": None}],
        }


def test_azure_view_thread_reads_the_connection_and_keeps_the_last_view_on_error(tmp_path):
    (tmp_path / "cfg.yaml").write_text(base(tmp_path) + remediation(tmp_path))
    cfg = config.load(str(tmp_path / "cfg.yaml"))
    worker = FakeWorker()
    loop = RemedyLoop(cfg, notify=lambda s, m: None, worker=worker)
    tunnels = [{"name": "hq", "health": "UP", "reasons": []}]
    loop.tick(tunnels)
    loop.views.join(5)
    view = loop.status()["azure"]
    assert view["status"] == "Connected" and view["error"] is None and view["read_at"]
    assert view["lng"]["ip"] == "192.0.2.1"
    assert worker.calls == ["get-view"]
    loop.tick(tunnels)  # within azure_status_interval: no second read
    assert worker.calls == ["get-view"]
    worker.fail = "HTTP 500 from ARM"
    loop.views.refresh(cfg.azure.lng_key)
    loop.tick(tunnels)
    loop.views.join(5)
    view = loop.status()["azure"]
    assert view["status"] == "Connected" and view["error"] == "HTTP 500 from ARM"
    assert view["read_at"] and view["checked_at"]
    loop.tick(tunnels)
    assert loop.status()["azure"]["error"] == "HTTP 500 from ARM"
    loop.close()


@pytest.mark.parametrize(("carp", "role"), [("BACKUP", "backup"), ("MASTER", "master")])
def test_plan_outside_the_daemon_loop_reads_the_carp_role_first(tmp_path, monkeypatch, carp, role):
    """One-shot `remediate --dry-run` plans with the CARP role read now, never as standalone."""
    from s2s_agent import remedyloop

    monkeypatch.setattr(
        remedyloop, "carp_role", lambda i, v: (carp.lower(), f"CARP vhid 1 is {carp}")
    )
    text = (base(tmp_path) + remediation(tmp_path)).replace(
        "azure_status_interval: 1", "carp_interface: igb0, carp_vhid: 1"
    )
    d = daemon(tmp_path, text)
    assert d.remedy_loop.role == "unknown"  # not read yet: acts like a BACKUP
    out = d._plan({})
    assert out["role"] == role
    if role == "backup":
        assert "BACKUP" in out["plan"]["reason"] or not out["plan"]["steps"]
