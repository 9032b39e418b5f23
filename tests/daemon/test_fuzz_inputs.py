"""Fuzzing the daemon's inputs with hypothesis: nothing raises outside the error tree.

* the control-socket protocol: any bytes, any JSON, any nesting -> an error reply;
* ``state.json`` of any shape -> the daemon's restore and ``status``/``check``/``metrics``
  give an answer or a clear error (exit 0-3), never an exception;
* config documents of any shape (the real keys with wild values, and raw text) ->
  a Config or a ConfigError.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import selectors
import tempfile
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from s2s_agent import cli, config
from s2s_agent.core import statefile
from s2s_agent.core.errors import ConfigError, StateError
from s2s_agent.tell import control
from s2s_agent.tell.alerts import AlertTracker

FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", "\0", "a\nb", "/a\0b", "UP", "DOWN", "1", "https://api.ipify..org/"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)


def nested(depth: int, kind: str) -> str:
    return {"list": "[" * depth + "]" * depth, "dict": '{"a":' * depth + "1" + "}" * depth}[kind]


# ---- the control socket ---------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ctl") / "ctl.sock")
    srv = control.ControlServer(
        path,
        {
            "status": lambda r: {"n": 1},
            "ping": lambda r: {"pong": True},
            "boom": lambda r: 1 / 0,
            "odd": lambda r: {"x": {1, 2}},
        },
        selectors.DefaultSelector(),
    )
    yield srv
    srv.close()


def check_reply(srv, line: bytes) -> None:
    out = srv.reply(line)
    assert out.endswith(b"\n")
    reply = json.loads(out)
    assert reply["version"] == 1 and isinstance(reply["ok"], bool)
    if not reply["ok"]:
        assert isinstance(reply["error"], str) and reply["error"]


@FUZZ
@given(st.binary(max_size=300))
def test_control_any_bytes(server, line):
    check_reply(server, line)


@FUZZ
@given(
    json_values,
    st.sampled_from([1, True, 1.0, "1", None, 2]),
    st.sampled_from(["status", "ping", "boom", "odd", "nope", None, 7]),
)
def test_control_any_json(server, extra, version, command):
    for req in (extra, {"version": version, "command": command, "args": extra}):
        check_reply(server, json.dumps(req).encode())


@FUZZ
@given(st.integers(min_value=1, max_value=30000), st.sampled_from(["list", "dict"]))
def test_control_any_nesting(server, depth, kind):
    check_reply(server, nested(depth, kind).encode())


# ---- state.json -----------------------------------------------------------------------

tunnel = st.fixed_dictionaries(
    {
        "name": st.one_of(st.text(max_size=8), scalars),
        "health": st.sampled_from(["UP", "DOWN", "x", 1, None]),
    },
    optional={
        "reasons": json_values,
        "probe": json_values,
        "remediation": json_values,
        "azure": json_values,
        "events": json_values,
        "remediations": json_values,
        "child_states": json_values,
        "bytes_in": scalars,
        "established_seconds": scalars,
    },
)
status_doc = st.fixed_dictionaries(
    {"tunnels": st.one_of(st.lists(tunnel, max_size=3), json_values)},
    optional={
        "agent": st.one_of(json_values, st.fixed_dictionaries({"interval": scalars})),
        "age_seconds": scalars,
        "source": scalars,
    },
)
state_doc = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {
            "version": st.sampled_from([1, True, "1", 1.0, 2]),
            "saved": scalars,
            "status": st.one_of(status_doc, json_values),
        },
        optional={
            "alerts": json_values,
            "remediation": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "wan_ip": scalars,
                        "azure_view": json_values,
                        "azure_writes": json_values,
                        "attempts": json_values,
                        "records": json_values,
                        "applied_ip": scalars,
                    },
                ),
            ),
        },
    ),
)


@pytest.fixture(scope="module")
def state_env(tmp_path_factory):
    d = tmp_path_factory.mktemp("state")
    cfg = d / "cfg.yaml"
    cfg.write_text(
        textwrap.dedent(f"""
        agent: {{state_dir: {d}, control_socket: {d}/ctl.sock}}
        tunnels: [{{name: hq, ike: con1}}]
    """)
    )
    return cfg, d / "state.json"


def run_cli(*argv) -> int:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(argv))
    assert "Traceback" not in err.getvalue()
    return code


@FUZZ
@given(state_doc)
def test_state_json_of_any_shape(state_env, doc):
    cfg, path = state_env
    path.write_text(json.dumps(doc))
    assert statefile.problem(doc) is None or isinstance(statefile.problem(doc), str)
    try:
        data = statefile.load(str(path))
    except StateError:
        pass
    else:  # what the daemon does with a usable file
        AlertTracker().load(data.get("alerts") or {})
    assert run_cli("check", "-c", str(cfg)) in (0, 1, 2, 3)
    assert run_cli("status", "-c", str(cfg)) in (1, 3)
    assert run_cli("status", "--json", "-c", str(cfg)) in (1, 3)
    assert run_cli("metrics", "-c", str(cfg)) in (0, 3)


@FUZZ
@given(st.integers(min_value=1, max_value=200000), st.sampled_from(["list", "dict"]))
def test_state_json_of_any_nesting(state_env, depth, kind):
    cfg, path = state_env
    path.write_text(nested(depth, kind))
    with contextlib.suppress(StateError):
        statefile.load(str(path))
    assert run_cli("check", "-c", str(cfg)) == 3


def test_the_daemon_restores_a_remediation_state_of_any_shape(tmp_path):
    """RemedyLoop.load is what the daemon calls with the file's "remediation" object."""
    from hypothesis import given as given_

    secret = tmp_path / "secret"
    secret.write_text("s")
    secret.chmod(0o600)
    (tmp_path / "cfg.yaml").write_text(
        textwrap.dedent(f"""
        tunnels: [{{name: hq, ike: con1}}]
        azure: {{tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47,
                 client_id: 11111111-2222-3333-4444-555555555555, client_secret_file: {secret},
                 subscription_id: 00000000-1111-2222-3333-444444444444, resource_group: rg,
                 local_network_gateway: lng}}
        wan: {{source: interface, interface: lo, allow_private: true}}
        remediation: {{enabled: true, local_backend: none}}
    """)
    )
    from s2s_agent.remedyloop import RemedyLoop

    loop = RemedyLoop(config.load(str(tmp_path / "cfg.yaml")), notify=lambda s, m: None)

    @FUZZ
    @given_(
        st.dictionaries(
            st.sampled_from(
                [
                    "applied_ip",
                    "lng_ip",
                    "last_lng_write",
                    "azure_writes",
                    "attempts",
                    "records",
                    "azure_view",
                    "wan_ip",
                ]
            ),
            json_values,
        )
    )
    def restore(data):
        loop.load(data)
        loop.to_dict()

    restore()
    loop.close()


# ---- config documents -----------------------------------------------------------------

SECTIONS = {
    "agent": ["interval", "state_dir", "control_socket", "log_level", "metrics_textfile"],
    "strongswan": ["source", "vici_socket", "swanctl", "ipsec", "command_timeout", "log_file"],
    "alerts": ["syslog_socket", "facility", "tag", "reminder_interval"],
    "health": ["event_window", "probe_loss_degraded"],
    "remediation": [
        "enabled",
        "tunnel",
        "max_azure_writes_per_hour",
        "backoff_base",
        "carp_vhid",
        "carp_interface",
        "swanctl_conf",
        "local_backend",
    ],
    "wan": ["source", "interface", "http_endpoints", "quorum", "hold_seconds", "ca_bundle"],
    "azure": ["tenant_id", "client_id", "client_secret_file", "authority", "cloud"],
    "pfsense": ["config_xml", "ikeid"],
}
section = {
    name: st.one_of(json_values, st.dictionaries(st.sampled_from(keys), json_values))
    for name, keys in SECTIONS.items()
}
tunnels = st.one_of(
    json_values,
    st.lists(
        st.dictionaries(
            st.sampled_from(["name", "ike", "children", "probe"]),
            st.one_of(
                json_values,
                st.dictionaries(
                    st.sampled_from(["source", "target", "count", "timeout"]), json_values
                ),
            ),
        ),
        max_size=3,
    ),
)
config_doc = st.fixed_dictionaries({"tunnels": tunnels}, optional=section)


def load_text(text: str) -> None:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write(text)
    try:
        config.load(fh.name)
    except ConfigError:
        pass
    finally:
        os.unlink(fh.name)


@FUZZ
@given(config_doc)
def test_config_documents_of_any_shape(doc):
    load_text(yaml.safe_dump(doc))


@FUZZ
@given(st.text(max_size=300))
def test_config_any_text(text):
    load_text(text)


@FUZZ
@given(st.integers(min_value=1, max_value=20000), st.sampled_from(["[", "{a: ", "- "]))
def test_config_any_nesting(depth, opener):
    closer = {"[": "]", "{a: ": "}", "- ": ""}[opener]
    text = (
        opener * depth + "1" + closer * depth
        if opener != "- "
        else "".join("  " * i + "- \n" for i in range(min(depth, 3000)))
    )
    load_text(text)
