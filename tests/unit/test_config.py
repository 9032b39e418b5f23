import textwrap

import pytest

from s2s_agent import config
from s2s_agent.errors import ConfigError

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
        ("tunnels: [{ike: c, probe: {source: 1.2.3.4, target: nope}}]\n", "tunnels[0].probe.target", "IP address"),
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


def test_reserved_sections_are_kept(tmp_path):
    cfg = config.load(write(tmp_path, "tunnels: [{ike: c}]\nazure: {tenant_id: t}\n"))
    assert cfg.extra == {"azure": {"tenant_id": "t"}}
