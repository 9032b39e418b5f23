"""The credential file is checked at validate-config, daemon start and reload with the rules
of its use (it used to be read only at the first WAN change)."""

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from s2s_agent import config
from s2s_agent.config.azure import check_credential_file
from s2s_agent.core.errors import ConfigError
from s2s_agent.daemon import Daemon

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the credential file must be root's")


def make_cfg(tmp_path: Path, secret: Path) -> Path:
    (tmp_path / "ipsec.log").write_text("")
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        textwrap.dedent(f"""
        agent: {{interval: 1, state_dir: {tmp_path}/state, control_socket: {tmp_path}/ctl.sock}}
        strongswan: {{source: swanctl, swanctl: /bin/true, log_file: {tmp_path}/ipsec.log}}
        alerts: {{syslog_socket: {tmp_path}/nosyslog.sock}}
        tunnels: [{{name: hq, ike: con1}}]
        azure: {{tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47,
                 client_id: 11111111-2222-3333-4444-555555555555, client_secret_file: {secret},
                 subscription_id: 00000000-1111-2222-3333-444444444444, resource_group: rg,
                 local_network_gateway: lng}}
        wan: {{source: interface, interface: lo, allow_private: true}}
        remediation: {{enabled: true, local_backend: none}}
    """)
    )
    return cfg


def bad_files(tmp_path: Path):
    """(name, make(path), words the message must contain) for each way a file is wrong."""

    def good(p):
        p.write_text("the-secret\n")
        p.chmod(0o600)

    def mode(p):
        good(p)
        p.chmod(0o644)

    def link(p):
        real = tmp_path / "real-secret"
        good(real)
        p.symlink_to(real)

    def owner(p):
        good(p)
        os.chown(p, 4242, 4242)

    def empty(p):
        p.write_text("\n")
        p.chmod(0o600)

    return [
        ("missing", lambda p: None, "No such file"),
        ("mode", mode, "mode 0644"),
        ("symlink", link, "is a symlink"),
        ("owner", owner, "owned by uid 4242"),
        ("empty", empty, "is empty"),
        ("directory", lambda p: p.mkdir(mode=0o700), "is a directory"),
        ("fifo", lambda p: os.mkfifo(p, 0o600), "is a FIFO"),
    ]


@pytest.mark.parametrize("case", range(7))
def test_validate_config_checks_the_credential_file(tmp_path, case):
    name, make, words = bad_files(tmp_path)[case]
    secret = tmp_path / "secret"
    make(secret)
    cfg = make_cfg(tmp_path, secret)
    r = subprocess.run(
        [sys.executable, "-m", "s2s_agent", "validate-config", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
    )  # a FIFO must not block it
    assert r.returncode == 2, (name, r.stdout, r.stderr)
    assert words in r.stderr and str(secret) in r.stderr, (name, r.stderr)
    assert "the-secret" not in r.stderr and "Traceback" not in r.stderr


def test_good_file_passes_and_disabled_remediation_is_not_checked(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("the-secret\n")
    secret.chmod(0o600)
    cfg = make_cfg(tmp_path, secret)
    r = subprocess.run(
        [sys.executable, "-m", "s2s_agent", "validate-config", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr
    secret.chmod(0o644)
    c = config.load(str(cfg))
    with pytest.raises(ConfigError, match="mode 0644"):
        check_credential_file(c)
    cfg.write_text(cfg.read_text().replace("enabled: true", "enabled: false"))
    check_credential_file(config.load(str(cfg)))  # remediation off: the file is not used


def test_daemon_refuses_to_start_with_a_bad_credential_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s\n")
    secret.chmod(0o640)
    cfg = make_cfg(tmp_path, secret)
    r = subprocess.run(
        [sys.executable, "-m", "s2s_agent", "run", "-c", str(cfg)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "mode 0640" in r.stderr and "chmod 600" in r.stderr, r.stderr


def test_reload_with_a_bad_credential_file_keeps_the_running_config(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s\n")
    secret.chmod(0o600)
    cfg = make_cfg(tmp_path, secret)
    d = Daemon(config.load(str(cfg)))
    sent = []
    d.sender.send = lambda sev, msg: sent.append((sev, msg))
    old = d.cfg
    secret.chmod(0o604)
    d.reload()
    assert d.cfg is old
    assert any("event=reload_failed" in m and "mode 0604" in m for _s, m in sent), sent
    secret.chmod(0o600)
    d.reload()
    assert d.cfg is not old
    if d.remedy_loop is not None:
        d.remedy_loop.close()


def test_a_fifo_credential_file_does_not_block_the_worker_side_read(tmp_path):
    from s2s_agent.config.azure import read_private_file

    fifo = tmp_path / "secret"
    os.mkfifo(fifo, 0o600)
    result = {}
    t = threading.Thread(
        target=lambda: result.update(
            err=pytest.raises(ConfigError, read_private_file, str(fifo)).value
        ),
        daemon=True,
    )
    t.start()
    t.join(5)
    if t.is_alive():  # unblock the old, blocking open so the test process can exit
        with open(fifo, "w"):
            pass
        pytest.fail("reading a FIFO credential file blocked")
    assert "is a FIFO" in str(result["err"])
