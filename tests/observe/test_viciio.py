"""VICI calls end by their deadline, also when charon stalls in the middle of a reply."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from s2s_agent.act import tunnelctl
from s2s_agent.core.errors import LocalApplyError, SourceError
from s2s_agent.observe import sources, viciio
from tests.fakecharon import CONFIRM, FakeCharon, frame


def bounded(fn, seconds: float = 5.0):
    """Run ``fn`` on a thread; fail instead of hanging when it does not return in time."""
    box: dict = {}

    def work():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    t0 = time.monotonic()
    th = threading.Thread(target=work, daemon=True)
    th.start()
    th.join(seconds)
    assert not th.is_alive(), f"still blocked after {seconds}s"
    return box, time.monotonic() - t0


@pytest.fixture
def charon(tmp_path):
    made = []

    def make(mode):
        fake = FakeCharon(str(tmp_path / f"charon-{mode}.vici"), mode)
        made.append(fake)
        return fake

    yield make
    for f in made:
        f.close()


def test_socketpair_stall_after_the_first_byte_ends_by_the_deadline():
    """The binding's own transport turns the timeout off after the first byte: ours does not."""
    ours, theirs = socket.socketpair()
    try:
        session = viciio.session_on(ours, 0.3)
        whole = frame(CONFIRM)
        theirs.sendall(struct.pack("!I", len(whole) + 10) + whole[4:])  # a reply 10 bytes short
        box, took = bounded(lambda: session.request("stats"))
        assert isinstance(box.get("error"), TimeoutError)
        assert took < 2
    finally:
        ours.close()
        theirs.close()


def test_a_full_exchange_through_the_deadline_transport(charon):
    fake = charon("ok")
    sas = sources.vici_list_sas(fake.path, 2)
    assert list(sas[0]) == ["con1"] and sas[0]["con1"]["state"] == b"ESTABLISHED"
    assert tunnelctl.initiate_child("con1", 1, socket_path=fake.path) >= 0


@pytest.mark.parametrize("mode", ["stall_mid_reply", "stall_in_stream", "silent"])
def test_list_sas_stalled_charon_is_a_source_error_within_the_timeout(charon, mode):
    fake = charon(mode)
    box, took = bounded(lambda: sources.vici_list_sas(fake.path, 0.3))
    assert isinstance(box.get("error"), SourceError), box
    assert "did not answer" in str(box["error"]) and "0.3s" in str(box["error"])
    assert took < 2, took  # old code: blocked for good after the first byte


@pytest.mark.parametrize("mode", ["stall_mid_reply", "stall_in_stream"])
def test_tunnel_control_stalled_charon_is_a_local_apply_error(charon, mode):
    fake = charon(mode)
    # initiate: charon's own timeout 0.1 s, our deadline 2 s beyond it
    box, took = bounded(lambda: tunnelctl.initiate_child("con1", 0.1, socket_path=fake.path), 6)
    assert isinstance(box.get("error"), LocalApplyError), box
    assert "did not answer" in str(box["error"])
    assert took < 4, took
    box, took = bounded(lambda: tunnelctl.conn_local_ids("con1", 0.3, socket_path=fake.path))
    assert isinstance(box.get("error"), LocalApplyError), box
    assert took < 2


def test_an_absurd_length_is_refused_not_awaited(charon):
    fake = charon("huge")
    box, took = bounded(lambda: sources.vici_list_sas(fake.path, 5))
    assert isinstance(box.get("error"), SourceError)
    assert "limit" in str(box["error"]) and took < 2
