"""QueuedSender: the daemon's alerts never wait on syslogd, keep their order, and a gap from
a too-slow syslogd is told in syslog itself."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading

import pytest

from s2s_agent.daemon import Daemon
from s2s_agent.tell.syslogsend import QueuedSender, SyslogSender


class BlockingSender:
    """Stands in for SyslogSender with a syslogd that takes nothing until released."""

    socket_path = "/dev/log"
    ok = True

    def __init__(self):
        self.release = threading.Event()
        self.got: list[tuple[str, str]] = []
        self.closed = False

    def send(self, severity: str, message: str) -> bool:
        self.release.wait(10)
        self.got.append((severity, message))
        return True

    def close(self) -> None:
        self.closed = True


def test_send_returns_while_syslogd_takes_nothing_and_order_is_kept():
    fake = BlockingSender()
    q = QueuedSender(fake)
    for i in range(5):
        assert q.send("err", f"line {i}") is True  # would block 10 s each on a direct send
    assert fake.got == []
    fake.release.set()
    q.close(flush_timeout=5)
    assert fake.got == [("err", f"line {i}") for i in range(5)]
    assert fake.closed


def test_overflow_drops_the_oldest_and_says_so_in_syslog():
    fake = BlockingSender()
    q = QueuedSender(fake, max_queue=3)
    q.send("notice", "first")  # taken by the thread, which then blocks in send()
    for _ in range(100):
        if q.pending() == 0:
            break
        threading.Event().wait(0.01)
    for i in range(6):
        q.send("err", f"burst {i}")
    assert q.pending() == 3
    fake.release.set()
    q.close(flush_timeout=5)
    messages = [m for _s, m in fake.got]
    assert messages[0] == "first"
    assert messages[1].startswith("event=alerts_dropped count=3 ")
    assert messages[2:] == ["burst 3", "burst 4", "burst 5"]


def test_bad_severity_is_refused_at_once_and_nothing_after_close():
    q = QueuedSender(BlockingSender())
    with pytest.raises(ValueError, match="valid:"):
        q.send("loud", "x")
    q.close(flush_timeout=0.1)
    assert q.send("err", "late") is False


def test_a_real_syslog_socket_whose_queue_is_full():
    d = tempfile.mkdtemp(prefix="s2sq")
    try:
        path = f"{d}/log"
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        srv.bind(path)
        q = QueuedSender(SyslogSender(path), max_queue=4)
        for i in range(40):  # nobody reads: the kernel queue fills, sends time out
            assert q.send("err", f"alert {i}")
        srv.settimeout(5)
        got = []
        while True:
            try:
                got.append(srv.recv(4096).decode())
            except TimeoutError:
                break
            if got[-1].endswith("alert 39"):
                break
        q.close(flush_timeout=5)
        srv.close()
        assert got[-1].endswith("alert 39")
        assert any("event=alerts_dropped count=" in g for g in got)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_the_daemon_sends_through_the_queue(tmp_path):
    from types import SimpleNamespace

    alerts = SimpleNamespace(syslog_socket=str(tmp_path / "log"), facility="daemon", tag="t")
    sender = Daemon._sender(SimpleNamespace(alerts=alerts))
    try:
        assert isinstance(sender, QueuedSender)
    finally:
        sender.close(flush_timeout=0.1)
