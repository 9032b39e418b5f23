"""A FIFO (or another special file) where a file is expected never blocks: the credential
file, pfSense's config.xml (state.json and the config: test_statefile / test_config)."""

from __future__ import annotations

import os
import threading

import pytest

from s2s_agent.act.pfsense import load_phase1
from s2s_agent.config.azure import read_private_file
from s2s_agent.config.pfsense import PfsenseSettings
from s2s_agent.core.errors import ConfigError


def raises_at_once(fn, seconds=5.0) -> BaseException:
    box: list[BaseException] = []

    def work():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box.append(exc)

    th = threading.Thread(target=work, daemon=True)
    th.start()
    th.join(seconds)
    assert not th.is_alive(), "blocked on a special file"
    assert box, "no error raised"
    return box[0]


@pytest.fixture
def fifo(tmp_path):
    p = tmp_path / "fifo"
    os.mkfifo(p, 0o600)
    return str(p)


def test_credential_file_that_is_a_fifo(fifo):
    exc = raises_at_once(lambda: read_private_file(fifo, owner_uid=os.getuid()))
    assert isinstance(exc, ConfigError) and "FIFO" in str(exc)


def test_credential_file_that_is_a_device():
    exc = raises_at_once(lambda: read_private_file("/dev/zero", owner_uid=0))
    assert isinstance(exc, ConfigError) and "not a regular file" in str(exc)


def test_pfsense_config_xml_that_is_a_fifo(fifo):
    exc = raises_at_once(lambda: load_phase1(PfsenseSettings(config_xml=fifo, ikeid=1)))
    assert isinstance(exc, ConfigError) and "FIFO" in str(exc)
