"""The settings page as pfSense's pkg_edit.php runs it (stand-in of its GET render and save
loop in tests/pkg/php_stubs/harness.php): secrets never go back to the browser (DMYPWD),
"Update Azure" unchecked keeps the Azure settings, UTF-8 names are stored base64, and the
validation rules of issue 12. The same flows run against pfSense's real pkg_edit.php in
tests/pkg/pfsense_real (S2S_PFSENSE_SRC)."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .harness import GOOD, PHASE1, run_harness

DMYPWD = "********"
SECRET = GOOD["client_secret"]
PEM = (
    "-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n"
    "-----BEGIN PRIVATE KEY-----\nMIIEkey\n-----END PRIVATE KEY-----"
)
# pkg_edit.php's enablefields script disables these <input>s while "Update Azure" is
# unchecked; browsers do not post disabled inputs (selects and textareas stay enabled).
DISABLED_INPUTS = (
    "tenant_id",
    "client_id",
    "client_secret",
    "subscription_id",
    "resource_group",
    "local_network_gateway",
    "connection",
    "max_writes_per_hour",
    "reset_connection_after",
)


def stored(settings: dict) -> dict:
    """``settings`` as pkg_edit.php stores them (base64 fields encoded)."""
    out = dict(settings)
    for k in ("tunnel_name", "client_certificate"):
        if out.get(k):
            out[k] = base64.b64encode(out[k].encode()).decode()
    return out


def saved(out: dict) -> dict:
    return out["config"]["installedpackages"]["s2sagent"]["config"][0]


def test_get_shows_placeholders_never_the_stored_secrets(tmp_path):
    cfg = stored({**GOOD, "client_certificate": PEM})
    out = run_harness(tmp_path, "form_get", cfg)
    assert out["result"]["client_secret"] == DMYPWD
    assert out["result"]["client_certificate"] == DMYPWD
    assert SECRET not in str(out["result"]) and "MIIEkey" not in str(out["result"])
    assert out["result"]["tunnel_name"] == "azure-hq"  # base64 decoded for the form
    assert not [c for c in out["calls"] if c[0] == "write_config"]  # a GET writes nothing


def test_get_without_a_stored_secret_shows_an_empty_field(tmp_path):
    out = run_harness(tmp_path, "form_get", stored({**GOOD, "client_secret": ""}))
    assert out["result"]["client_secret"] == ""


def test_post_with_the_placeholder_keeps_the_stored_secret(tmp_path):
    out = run_harness(tmp_path, "form_post", stored(GOOD), arg={**GOOD, "client_secret": DMYPWD})
    assert out["result"]["input_errors"] == []
    assert saved(out)["client_secret"] == SECRET
    assert (tmp_path / "s2s-agent" / "azure-secret").read_text() == SECRET


def test_post_with_a_new_secret_replaces_it(tmp_path):
    out = run_harness(tmp_path, "form_post", stored(GOOD), arg={**GOOD, "client_secret": "n3w"})
    assert saved(out)["client_secret"] == "n3w"


def test_post_certificate_placeholder_keeps_the_stored_pem(tmp_path):
    cfg = stored({**GOOD, "auth_method": "certificate", "client_certificate": PEM})
    post = {**GOOD, "auth_method": "certificate", "client_certificate": DMYPWD}
    out = run_harness(tmp_path, "form_post", cfg, arg=post)
    assert out["result"]["input_errors"] == []
    assert base64.b64decode(saved(out)["client_certificate"]).decode() == PEM


def test_unchecking_update_azure_keeps_the_azure_settings(tmp_path):
    post = {k: v for k, v in GOOD.items() if k not in DISABLED_INPUTS}
    post["remediation"] = ""
    out = run_harness(tmp_path, "form_post", stored(GOOD), arg=post)
    assert out["result"]["input_errors"] == []
    kept = saved(out)
    for k in DISABLED_INPUTS:
        assert kept[k] == GOOD.get(k, kept[k]), k
    assert kept["client_secret"] == SECRET and kept["remediation"] == ""
    conf = yaml.safe_load((tmp_path / "s2s-agent.yaml").read_text())
    assert "azure" not in conf  # not used while unchecked...
    post2 = {**GOOD, "client_secret": DMYPWD}
    out = run_harness(tmp_path, "form_post", kept, arg=post2)  # ...and back when checked again
    assert out["result"]["input_errors"] == [] and saved(out)["tenant_id"] == GOOD["tenant_id"]


def test_a_validation_error_re_renders_the_placeholder_not_the_secret(tmp_path):
    post = {k: v for k, v in GOOD.items() if k not in DISABLED_INPUTS}
    post.update({"remediation": "", "interval": "0"})
    out = run_harness(tmp_path, "form_post", stored(GOOD), arg=post)
    assert out["result"]["input_errors"]
    assert out["result"]["post"]["client_secret"] == DMYPWD
    assert out["result"]["post"]["tenant_id"] == GOOD["tenant_id"]  # kept value shown
    assert SECRET not in str(out["result"])
    assert not [c for c in out["calls"] if c[0] == "write_config"]


def test_utf8_tunnel_name_is_stored_base64_and_reaches_the_yaml(tmp_path):
    name = "Zürich – Büro 東京"
    out = run_harness(tmp_path, "form_post", {}, arg={**GOOD, "tunnel_name": name})
    assert out["result"]["input_errors"] == []
    assert saved(out)["tunnel_name"] == base64.b64encode(name.encode()).decode()
    assert saved(out)["tunnel_name"].isascii()
    conf = yaml.safe_load((tmp_path / "s2s-agent.yaml").read_text(encoding="utf-8"))
    assert conf["tunnels"][0]["name"] == name
    writes = [c[1] for c in out["calls"] if c[0] == "write_config"]
    assert writes and all(w.strip() for w in writes)  # Config History gets a description


@pytest.mark.parametrize("legacy", ["azure-hq", "azure", "test", "HQ 1"])
def test_a_plain_name_saved_by_an_older_version_is_used_as_it_is(tmp_path, legacy):
    run_harness(tmp_path, "resync", {**GOOD, "tunnel_name": legacy, "remediation": ""})
    conf = yaml.safe_load((tmp_path / "s2s-agent.yaml").read_text())
    assert conf["tunnels"][0]["name"] == legacy


def test_disabled_config_saves_without_any_phase_1(tmp_path):
    post = {"enable": "", "tunnel_name": "azure"}  # no phase 1: the select posts nothing
    out = run_harness(tmp_path, "form_post", {}, arg=post, extra={"ipsec": ""})
    assert out["result"]["input_errors"] == []


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        ({"connection": ""}, True),  # optional, as azure.connection in the YAML
        ({"tunnel_name": "Zürich Büro"}, True),
        ({"tunnel_name": "bad\u0007bell"}, False),
        ({"tunnel_name": "x" * 65}, False),
        ({"resource_group": "rg-zürich"}, False),  # config.xml text stays ASCII
        ({"ikeid": ""}, False),
        ({"enable": "", "ikeid": ""}, True),
    ],
)
def test_validation_rules(tmp_path, change, ok):
    errors = run_harness(tmp_path, "validate", arg={**GOOD, **change})["result"]
    assert (errors == []) is ok, errors


def test_validation_rejects_a_disabled_phase_1(tmp_path):
    phase1 = [{**PHASE1[0], "disabled": ""}, PHASE1[1]]
    errors = run_harness(tmp_path, "validate", arg=GOOD, extra={"ipsec": {"phase1": phase1}})[
        "result"
    ]
    assert any(e.startswith("Tunnel to watch:") and "disabled" in e for e in errors), errors


def test_a_plain_name_of_an_older_version_shows_as_it_is_and_install_migrates_it(tmp_path):
    """pkg_edit.php base64-decodes the stored value for the form: a plain "azure-hq" saved
    by an older version must not turn into junk (GET) and is re-encoded on install."""
    out = run_harness(tmp_path, "form_get", {**GOOD, "tunnel_name": "azure-hq"})
    assert out["result"]["tunnel_name"] == "azure-hq"
    out = run_harness(tmp_path, "install", {**GOOD, "tunnel_name": "azure-hq"})
    assert saved(out)["tunnel_name"] == base64.b64encode(b"azure-hq").decode()


def fake_python(tmp_path, imports: bool):
    """A python3.11 stand-in that answers ``-I -c "import cryptography"`` as CPython does
    with (exit 0) or without the module (the ModuleNotFoundError traceback, exit 1)."""
    py = tmp_path / "python3.11"
    if imports:
        body = 'echo "$@" > "$(dirname "$0")/python-args"\nexit 0\n'
    else:
        body = (
            'echo "$@" > "$(dirname "$0")/python-args"\n'
            "echo 'Traceback (most recent call last):' >&2\n"
            "echo '  File \"<string>\", line 1, in <module>' >&2\n"
            "echo \"ModuleNotFoundError: No module named 'cryptography'\" >&2\nexit 1\n"
        )
    py.write_text("#!/bin/sh\n" + body)
    py.chmod(0o755)
    return py


CERT = {**GOOD, "auth_method": "certificate", "client_certificate": PEM, "client_secret": ""}


def test_certificate_without_cryptography_is_refused_and_names_the_package(tmp_path, monkeypatch):
    """issue 12: "Certificate authentication needs cryptography. When it is missing,
    validate-config and the GUI say so and say what to install"."""
    monkeypatch.setenv("S2S_TEST_PYTHON", str(fake_python(tmp_path, imports=False)))
    errors = run_harness(tmp_path, "validate", arg=CERT)["result"]
    assert len(errors) == 1, errors
    assert errors[0].startswith(
        "Authentication: certificate authentication needs the Python module cryptography"
    )
    assert "py311-cryptography (security/py-cryptography)" in errors[0]
    assert '"Client secret"' in errors[0]
    assert (tmp_path / "python-args").read_text().split() == ["-I", "-c", "import", "cryptography"]
    # through the save loop: nothing stored, the page shows the message
    out = run_harness(tmp_path, "form_post", {}, arg=CERT)
    assert any("py311-cryptography" in e for e in out["result"]["input_errors"])
    assert not (tmp_path / "s2s-agent/azure-cert.pem").exists()


def test_certificate_with_cryptography_saves(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_TEST_PYTHON", str(fake_python(tmp_path, imports=True)))
    assert run_harness(tmp_path, "validate", arg=CERT)["result"] == []
    assert (tmp_path / "python-args").exists()


def test_client_secret_never_probes_for_cryptography(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_TEST_PYTHON", str(fake_python(tmp_path, imports=False)))
    assert run_harness(tmp_path, "validate", arg=GOOD)["result"] == []
    assert run_harness(tmp_path, "validate", arg={**CERT, "remediation": ""})["result"] == []
    assert not (tmp_path / "python-args").exists()


def fake_cli(tmp_path, answer: str, rc: int):
    """An s2s-agent stand-in for Save's validate-config: records its arguments and a copy of
    the YAML it was given, answers ``answer`` on stderr with exit ``rc``."""
    cli = tmp_path / "fake-s2s-agent"
    cli.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > {tmp_path}/cli-args\ncp "$4" {tmp_path}/cli-yaml\n'
        f'echo "{answer}" | sed "s#TMP#$4#" >&2\nexit {rc}\n'
    )
    cli.chmod(0o755)
    return cli


def test_save_shows_the_agents_validate_config_message(tmp_path, monkeypatch):
    """Save asks the agent itself (validate-config on the YAML these settings produce): a
    configuration the agent refuses is not saved, and the agent's message is shown."""
    answer = "s2s-agent: invalid configuration: TMP: tunnels[0].children: bad child"
    monkeypatch.setenv("S2S_TEST_CLI", str(fake_cli(tmp_path, answer, 2)))
    out = run_harness(tmp_path, "form_post", {}, arg=GOOD)
    assert out["result"]["input_errors"] == [
        "Settings: the agent refuses the configuration these settings produce: "
        "the generated s2s-agent.yaml: tunnels[0].children: bad child"
    ]
    args = (tmp_path / "cli-args").read_text().split()
    # the settings only: Save has not yet written the credential file they name
    assert args[:3] == ["validate-config", "--without-credential-file", "-c"]
    assert not Path(args[3]).exists()  # removed
    assert yaml.safe_load((tmp_path / "cli-yaml").read_text())["tunnels"][0]["ike"] == "con1"
    assert SECRET not in (tmp_path / "cli-yaml").read_text()
    assert not (tmp_path / "s2s-agent.yaml").exists()  # nothing saved


@pytest.mark.parametrize("rc", [0, 1, 124])  # accepted / cannot run / no answer: saved
def test_save_goes_on_when_the_agent_accepts_or_cannot_tell(tmp_path, monkeypatch, rc):
    monkeypatch.setenv("S2S_TEST_CLI", str(fake_cli(tmp_path, "whatever", rc)))
    out = run_harness(tmp_path, "form_post", {}, arg=GOOD)
    assert out["result"]["input_errors"] == []
    assert (tmp_path / "s2s-agent.yaml").exists()


def test_disabled_settings_are_not_sent_to_the_agent(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_TEST_CLI", str(fake_cli(tmp_path, "no", 2)))
    out = run_harness(tmp_path, "form_post", {}, arg={**GOOD, "enable": ""})
    assert out["result"]["input_errors"] == [] and not (tmp_path / "cli-args").exists()


def test_the_real_agent_accepts_what_the_form_saves(tmp_path, monkeypatch):
    """No false refusals: the project's own s2s-agent (venv) as the Save-time validator."""
    cli = Path(sys.executable).with_name("s2s-agent")
    if not cli.exists():
        pytest.skip(f"{cli} is missing (make venv installs it)")
    monkeypatch.setenv("S2S_TEST_CLI", str(cli))
    http = {
        "wan_source": "http",
        "quorum": "2",
        "http_endpoints": "https://ip1.example.net/\r\nhttps://ip2.example.org/plain",
    }
    for post in (GOOD, {**GOOD, **http}, {**GOOD, "remediation": ""}):
        out = run_harness(tmp_path, "form_post", {}, arg=post)
        assert out["result"]["input_errors"] == [], post
    # and the control: the real agent does refuse what it must (quorum above the endpoints is
    # caught by the form first, so break what only the agent checks: the YAML itself)
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent: {intervall: 3}\n")
    r = subprocess.run(
        [str(cli), "validate-config", "-c", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 2


def test_the_real_agent_checks_the_credential_file_unless_told_not_to(tmp_path, monkeypatch):
    """Save checks the settings with --without-credential-file (the resync writes that file
    after the Save); without the flag a missing credential file is refused (exit 2)."""
    cli = Path(sys.executable).with_name("s2s-agent")
    if not cli.exists():
        pytest.skip(f"{cli} is missing (make venv installs it)")
    monkeypatch.setenv("S2S_TEST_CLI", str(cli))
    out = run_harness(tmp_path, "form_post", {}, arg=GOOD)
    assert out["result"]["input_errors"] == []
    doc = tmp_path / "s2s-agent.yaml"
    secret = Path(yaml.safe_load(doc.read_text())["azure"]["client_secret_file"])
    secret.unlink(missing_ok=True)  # as before the first Save's resync wrote it
    plain = subprocess.run(
        [str(cli), "validate-config", "-c", str(doc)], capture_output=True, text=True, timeout=60
    )
    assert plain.returncode == 2 and "credential file" in plain.stderr
    flag = subprocess.run(
        [str(cli), "validate-config", "--without-credential-file", "-c", str(doc)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert flag.returncode == 0, flag.stderr
