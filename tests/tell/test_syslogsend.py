"""SyslogSender against real AF_UNIX listeners: format, outages, reconnects, stream sockets."""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
import time

import pytest

from s2s_agent.tell import syslogsend
from s2s_agent.tell.syslogsend import (
    SyslogSender,
    default_socket,
    facility_code,
    format_message,
    severity_code,
)

LINE = re.compile(
    r"^<(\d+)>([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d) ([^\[\s]+)\[(\d+)\]: (.*)$", re.S
)


@pytest.fixture
def sockdir():
    d = tempfile.mkdtemp(prefix="s2s-sl-", dir="/tmp")  # AF_UNIX paths must stay short
    yield d
    shutil.rmtree(d, ignore_errors=True)


def listener(path: str, kind=socket.SOCK_DGRAM) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, kind)
    s.bind(path)
    s.settimeout(5)
    if kind == socket.SOCK_STREAM:
        s.listen(1)
    return s


def parse(datagram: bytes):
    m = LINE.match(datagram.decode())
    assert m, datagram
    return m


# ---- names ------------------------------------------------------------------------------
def test_facility_and_severity_codes():
    assert facility_code("daemon") == 3
    assert facility_code("LOCAL7") == 23
    assert facility_code("security") == 13
    assert severity_code("emerg") == 0
    assert severity_code("err") == severity_code("error") == 3
    assert severity_code("warning") == severity_code("warn") == 4
    assert severity_code("debug") == 7


def test_invalid_names_list_the_valid_ones():
    with pytest.raises(
        ValueError, match=r"unknown syslog facility 'deamon'; valid: kern, user.*local7"
    ):
        facility_code("deamon")
    with pytest.raises(
        ValueError, match=r"valid: emerg, alert, crit, err, warning, notice, info, debug"
    ):
        severity_code("fatal")
    with pytest.raises(ValueError):
        SyslogSender("/nonexistent", facility="nope")


def test_default_socket_per_platform():
    assert default_socket("FreeBSD") == "/var/run/log"
    assert default_socket("Linux") == "/dev/log"
    assert default_socket("Darwin") == "/var/run/syslog"


# ---- format -----------------------------------------------------------------------------
@pytest.fixture
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_format_is_rfc3164(utc):
    now = 1793955901.0  # 2026-11-06 09:05:01 UTC
    out = format_message(3, 3, "s2s-agent", "tunnel azure-hq is DOWN", pid=42, now=now)
    assert out == b"<27>Nov  6 09:05:01 s2s-agent[42]: tunnel azure-hq is DOWN"
    out = format_message(23, 5, "t", "x", pid=1, now=now + 20 * 86400)
    assert out.startswith(b"<189>Nov 26 09:05:01 t[1]: ")


def test_newlines_and_nuls_are_replaced():
    out = format_message(3, 6, "t", "line one\nline two\r\nthree\rfour\0five", pid=1)
    assert b"\n" not in out and b"\r" not in out and b"\0" not in out
    assert out.endswith(b": line one line two three four five")


def test_long_messages_are_cut_on_a_character_boundary():
    msg = "é" * 5000
    out = format_message(3, 6, "t", msg, pid=1, max_bytes=300)
    assert len(out) <= 300
    assert out.endswith(b"...")
    out.decode("utf-8")  # still valid UTF-8


# ---- real sockets ---------------------------------------------------------------------------
def test_send_over_datagram_socket(sockdir):
    path = os.path.join(sockdir, "log")
    srv = listener(path)
    snd = SyslogSender(path, facility="local3", tag="s2s-agent")
    assert snd.send("err", "tunnel azure-hq is DOWN\n(ike con1)") is True
    m = parse(srv.recv(65536))
    assert int(m.group(1)) == 19 * 8 + 3
    assert m.group(7) == "s2s-agent" and int(m.group(8)) == os.getpid()
    assert m.group(9) == "tunnel azure-hq is DOWN (ike con1)"
    assert snd.ok
    snd.close()
    srv.close()


def test_send_over_stream_socket_is_nul_terminated(sockdir):
    path = os.path.join(sockdir, "log")
    srv = listener(path, socket.SOCK_STREAM)
    snd = SyslogSender(path)
    assert snd.send("notice", "first") is True
    assert snd.send("warning", "second") is True
    conn, _ = srv.accept()
    conn.settimeout(5)
    data = b""
    while data.count(b"\0") < 2:
        chunk = conn.recv(4096)
        assert chunk
        data += chunk
    first, second, rest = data.split(b"\0")
    assert rest == b""
    assert parse(first).group(1) == str(3 * 8 + 5) and parse(first).group(9) == "first"
    assert parse(second).group(1) == str(3 * 8 + 4)
    conn.close()
    snd.close()
    srv.close()


def test_missing_socket_returns_false_and_warns_once(sockdir, caplog):
    snd = SyslogSender(os.path.join(sockdir, "nothing-here"))
    with caplog.at_level(logging.WARNING, logger=syslogsend.__name__):
        assert snd.send("err", "a") is False
        assert snd.send("err", "b") is False
        assert snd.send("err", "c") is False
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "nothing-here" in warnings[0].getMessage()
    assert not snd.ok


def test_listener_goes_away_and_comes_back(sockdir, caplog):
    path = os.path.join(sockdir, "log")
    srv = listener(path)
    snd = SyslogSender(path)
    assert snd.send("info", "one") is True
    assert parse(srv.recv(65536)).group(9) == "one"
    srv.close()
    os.unlink(path)
    with caplog.at_level(logging.INFO, logger=syslogsend.__name__):
        assert snd.send("info", "lost 1") is False
        assert snd.send("info", "lost 2") is False
        srv = listener(path)  # syslogd restarted: a new socket at the same path
        assert snd.send("info", "two") is True
    assert parse(srv.recv(65536)).group(9) == "two"
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert snd.ok
    srv.close()


def test_replaced_listener_is_reached_without_a_lost_message(sockdir):
    path = os.path.join(sockdir, "log")
    srv = listener(path)
    snd = SyslogSender(path)
    assert snd.send("info", "one") is True
    srv.close()
    os.unlink(path)
    srv = listener(path)  # restart between two sends: the old connection is dead
    assert snd.send("info", "after restart") is True
    assert parse(srv.recv(65536)).group(9) == "after restart"
    srv.close()


def test_bad_severity_in_send_is_a_programming_error(sockdir):
    snd = SyslogSender(os.path.join(sockdir, "log"))
    with pytest.raises(ValueError):
        snd.send("loud", "x")
