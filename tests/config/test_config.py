import textwrap
from pathlib import Path

import pytest

from s2s_agent import config
from s2s_agent.core.errors import ConfigError

SAMPLE = "etc/s2s-agent.yaml.sample"


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(textwrap.dedent(text))
    return str(p)


def test_sample_config_is_valid():
    cfg = config.load(SAMPLE)
    assert cfg.tunnels[0].ike == "con1"
    assert cfg.tunnels[0].children == ("con1",)
    assert cfg.tunnels[0].probe.target == "10.1.10.4"
    assert cfg.agent.state_file == "/var/db/s2s-agent/state.json"


def test_minimal_config_gets_defaults(tmp_path):
    cfg = config.load(write(tmp_path, "tunnels: [{ike: con2}]\n"))
    t = cfg.tunnels[0]
    assert (t.name, t.ike, t.children, t.probe) == ("con2", "con2", ("con2",), None)
    assert cfg.agent.interval == 10.0
    assert cfg.strongswan.source == "auto"
    assert cfg.alerts.facility == "daemon"


@pytest.mark.parametrize(
    "text, key, words",
    [
        ("tunnels: []\n", "tunnels", "at least one"),
        ("tunnels: [{name: x}]\n", "tunnels[0].ike", "required"),
        (
            "tunnels: [{ike: c, probe: {source: 1.2.3.4, target: nope}}]\n",
            "tunnels[0].probe.target",
            "IP address",
        ),
        ("agent: {interval: 0}\ntunnels: [{ike: c}]\n", "agent.interval", "between"),
        ("agent: {intervall: 5}\ntunnels: [{ike: c}]\n", "agent.intervall", "unknown key"),
        ("strongswan: {source: magic}\ntunnels: [{ike: c}]\n", "strongswan.source", "one of"),
        ("alerts: {facility: nope}\ntunnels: [{ike: c}]\n", "alerts.facility", "one of"),
        ("agent: {state_dir: relative/dir}\ntunnels: [{ike: c}]\n", "agent.state_dir", "absolute"),
        ("tunnels: [{ike: c}, {ike: c}]\n", "tunnels[1].name", "duplicate"),
        ("tunnels: [{ike: c, children: []}]\n", "tunnels[0].children", "non-empty"),
        ("agent: {interval: yes}\ntunnels: [{ike: c}]\n", "agent.interval", "boolean"),
        ("- just\n- a list\n", None, "mapping"),
    ],
)
def test_invalid_configs_name_the_key(tmp_path, text, key, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        config.load(path)
    msg = str(exc.value)
    assert path in msg
    if key:
        assert f"{key}:" in msg
        assert exc.value.key == key
    assert words in msg


def test_bad_yaml_says_where(tmp_path):
    path = write(tmp_path, "tunnels:\n  - ike: [unclosed\n")
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+"):
        config.load(path)


def test_missing_and_unreadable(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        config.load(str(tmp_path / "absent.yaml"))
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(str(tmp_path))


FULL = """
tunnels: [{name: hq, ike: con1}]
azure:
  tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
  client_id: 11111111-2222-3333-4444-555555555555
  client_secret_file: /usr/local/etc/s2s-agent/azure-secret
  subscription_id: 00000000-1111-2222-3333-444444444444
  resource_group: rg-vpn
  local_network_gateway: lng-office
  connection: conn-office
wan: {source: interface, interface: igb0}
pfsense: {config_xml: /cf/conf/config.xml, ikeid: 1}
remediation: {enabled: true, max_azure_writes_per_hour: 4, carp_interface: igb0, carp_vhid: 3}
"""


def test_full_remediation_config(tmp_path):
    cfg = config.load(write(tmp_path, FULL))
    assert cfg.remediation.enabled and cfg.remediation.max_azure_writes_per_hour == 4
    assert cfg.azure.local_network_gateway == "lng-office"
    assert cfg.wan.interface == "igb0" and cfg.pfsense.ikeid == 1
    assert cfg.remediated_tunnel().name == "hq"
    assert (cfg.remediation.carp_interface, cfg.remediation.carp_vhid) == ("igb0", 3)


@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda t: t.replace("wan: {source: interface, interface: igb0}\n", ""), "wan"),
        (
            lambda t: t.replace("resource_group: rg-vpn", "resource_group: 'bad/rg'"),
            "azure.resource_group",
        ),
        (lambda t: t.replace("carp_vhid: 3", "carp_vhid: 300"), "remediation.carp_vhid"),
        (lambda t: t.replace("enabled: true", "enabled: true, tunnel: nope"), "remediation.tunnel"),
        (lambda t: t.replace("enabled: true", "enabled: true, bogus: 1"), "remediation.bogus"),
    ],
)
def test_remediation_config_errors_name_the_key(tmp_path, edit, key):
    with pytest.raises(ConfigError) as exc:
        config.load(write(tmp_path, edit(FULL)))
    assert exc.value.key == key


def test_sample_remediation_block_is_valid_when_uncommented(tmp_path):
    text = Path(SAMPLE).read_text()
    head, tail = text.split("# ---- Remediation", 1)
    block = "\n".join(ln[2:] if ln.startswith("# ") else "" for ln in tail.splitlines()[1:])
    cfg = config.load(write(tmp_path, head + block))
    assert cfg.remediation.enabled and cfg.azure.local_network_gateway == "lng-office"
    assert cfg.wan.interface == "igb0" and cfg.pfsense.ikeid == 1


# ---- nothing but ConfigError comes out of load() ------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            "agent: {interval: " + "9" * 400 + "}\ntunnels: [{ike: c}]\n",
            "agent.interval: is far too large",
        ),
        ("tunnels: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        (
            'agent: {state_dir: "/a\\0b"}\ntunnels: [{ike: c}]\n',
            "agent.state_dir: must not contain a NUL",
        ),
        ('alerts: {tag: "s2s\\nagent"}\ntunnels: [{ike: c}]\n', "alerts.tag"),
        ('alerts: {tag: "a b"}\ntunnels: [{ike: c}]\n', "alerts.tag"),
        ("tunnels: [{ike: c}]\nx: 2024-13-45 10:00:00\n", "YAML"),
    ],
)
def test_values_python_cannot_hold_are_config_errors(tmp_path, text, words):
    with pytest.raises(ConfigError, match=words):
        config.load(write(tmp_path, text))


def test_a_fifo_as_config_is_refused_without_blocking(tmp_path):
    import os
    import threading

    p = tmp_path / "cfg.yaml"
    os.mkfifo(p)
    box = []
    th = threading.Thread(
        target=lambda: box.append(pytest.raises(ConfigError, config.load, str(p))), daemon=True
    )
    th.start()
    th.join(5)
    assert not th.is_alive(), "config.load blocked on a FIFO"
    assert "FIFO" in str(box[0].value)


def test_nul_in_the_config_path_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot read"):
        config.load("/tmp/a\0b.yaml")


def test_an_oversized_or_deeply_flowed_config_is_refused_before_yaml_parses_it(tmp_path):
    """PyYAML needs many seconds for a few 100 KiB of flow tokens or deep [ [ [: refused."""
    p = tmp_path / "big.yaml"
    p.write_text("tunnels: [" + "1, " * 40000 + "1]\n")
    with pytest.raises(ConfigError, match="more than the 65536 allowed"):
        config.load(str(p))
    p.write_text("tunnels: " + "[" * 40 + "]" * 40 + "\n")
    with pytest.raises(ConfigError, match="nested too deeply"):
        config.load(str(p))
    p.write_text(
        'tunnels: [{ike: "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}]  # [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n'
    )
    assert config.load(str(p)).tunnels[0].ike.startswith("[[[")


@pytest.mark.parametrize(
    "text",
    [
        "agent: {interval: " + "9" * 400 + "}\ntunnels: [{ike: c}]\n",
        "tunnels: " + "[" * 2000 + "]" * 2000 + "\n",
        "tunnels:\n" + "".join("  " * i + "- \n" for i in range(1, 1200)),
        'agent: {state_dir: "/a\\0b"}\ntunnels: [{ike: c}]\n',
    ],
)
def test_validate_config_and_run_print_one_line_not_a_traceback(tmp_path, text):
    import subprocess
    import sys

    p = write(tmp_path, text)
    for cmd in ("validate-config", "run"):
        r = subprocess.run(
            [sys.executable, "-m", "s2s_agent", cmd, "-c", p],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 2, (cmd, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
