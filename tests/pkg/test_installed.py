"""The installed tree works with only what FreeBSD would provide.

The archive is extracted into a temporary root (``installed_root``); the launcher runs with
``python3 -I`` from a fresh venv with nothing but the standard library (``freebsd_python``,
tests/pkg/isolated.py: the package's only dependency is python311), plus the vendored folder. Proven
here: imports, ``--version``, ``validate-config`` on the shipped sample and on the YAML the
package's own resync (the installed ``s2s-agent.inc`` run by php-cli against a realistic
config.xml) writes, and ``parse`` on the lab goldens. The Azure proofs are in
test_installed_azure.py.
"""

from __future__ import annotations

import json
import stat
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT, load_builder, require_tool
from .isolated import LIB, clean_env, run_launcher, run_python
from .pfconfig import GUI_SETTINGS, php_config

STUBS = Path(__file__).parent / "php_stubs"
LAB = ROOT / "tests" / "golden" / "lab"
EXPECTED = ROOT / "tests" / "golden" / "expected" / "lab"
PEM = (
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
    "-----BEGIN CERTIFICATE-----\nMIIDazCCAlOgAwIBAgIUJ\n-----END CERTIFICATE-----\n"
)


def test_isolation_sanity(installed_root, freebsd_python):
    """The simulated system has the standard library only: none of the bundled libraries,
    no cryptography."""
    code = (
        "import importlib.util, json\n"
        "names = ('yaml', 'requests', 'urllib3', 'certifi', 'cryptography', 'azure', 'msal',"
        " 'vici', 's2s_agent')\n"
        "print(json.dumps([n for n in names if importlib.util.find_spec(n)]))\n"
    )
    r = subprocess.run(
        [str(freebsd_python), "-I", "-c", code], capture_output=True, text=True, env=clean_env()
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == []


def test_bundled_libraries_run_their_pure_python_code(installed_root, freebsd_python):
    """No compiled extension is shipped: PyYAML without libyaml, charset_normalizer's pure
    md.py; requests finds certifi's CA bundle inside the package."""
    r = run_python(
        installed_root,
        freebsd_python,
        "import json, yaml, requests, charset_normalizer.md as md, certifi\n"
        "print(json.dumps({'libyaml': yaml.__with_libyaml__, 'md': md.__file__,"
        " 'ca': certifi.where(), 'load': yaml.safe_load('a: [1, b]'),"
        " 'crypto': 'cryptography' in sys.modules}))",
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["libyaml"] is False and out["load"] == {"a": [1, "b"]}
    assert out["md"].endswith("/charset_normalizer/md.py")
    assert out["ca"].startswith(str(installed_root)) and Path(out["ca"]).is_file()
    assert out["crypto"] is False


def test_agent_package_imports_from_the_vendored_tree(installed_root, freebsd_python):
    r = run_python(
        installed_root,
        freebsd_python,
        "import s2s_agent, s2s_agent.config, vici\n"
        "print(s2s_agent.__version__); print(s2s_agent.__file__); print(vici.__file__)",
    )
    assert r.returncode == 0, r.stderr
    version, agent_file, vici_file = r.stdout.split()
    assert version == load_builder().agent_version()
    assert agent_file.startswith(str(installed_root)) and vici_file.startswith(str(installed_root))


def test_every_agent_module_imports(installed_root, freebsd_python):
    """All shipped s2s_agent modules import (a vendored dep a module needs at import time
    and pruning removed would show here)."""
    code = (
        "import importlib, json, pkgutil, s2s_agent\n"
        "names = sorted(m.name for m in pkgutil.walk_packages(s2s_agent.__path__, 's2s_agent.')\n"
        "               if not m.name.endswith('__main__'))\n"
        "for n in names:\n    importlib.import_module(n)\n"
        "print(json.dumps(names))\n"
    )
    r = run_python(installed_root, freebsd_python, code)
    assert r.returncode == 0, r.stderr
    pkg = installed_root / LIB.lstrip("/") / "s2s_agent"
    shipped = {
        ".".join(("s2s_agent", *p.relative_to(pkg).with_suffix("").parts)).removesuffix(".__init__")
        for p in pkg.rglob("*.py")
        if p.name != "__main__.py"
    } - {"s2s_agent"}
    assert set(json.loads(r.stdout)) == shipped


def test_launcher_version(launcher):
    r = run_launcher(launcher, "--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"s2s-agent {load_builder().agent_version()}"


def test_launcher_is_isolated():
    """-I must stay: PYTHONPATH or a stray s2s_agent in the cwd must not be picked up."""
    text = load_builder().LAUNCHER
    assert " -I " in text and 'sys.path[:0] = ["{libdir}"]' in text


def test_launcher_ignores_a_stray_package_in_the_working_directory(launcher, tmp_path):
    stray = tmp_path / "s2s_agent"
    stray.mkdir()
    (stray / "__init__.py").write_text("raise SystemExit('stray s2s_agent imported')\n")
    (stray / "cli.py").write_text("raise SystemExit('stray s2s_agent imported')\n")
    r = run_launcher(launcher, "--version", cwd=tmp_path)
    assert r.returncode == 0 and "stray" not in r.stdout + r.stderr, r.stdout + r.stderr


# --- validate-config -----------------------------------------------------------------------


def test_validate_config_accepts_the_shipped_sample(installed_root, launcher):
    sample = installed_root / "usr/local/etc/s2s-agent.yaml.sample"
    r = run_launcher(launcher, "validate-config", "-c", str(sample))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK, 1 tunnel(s): azure-hq (con1)" in r.stdout


def test_validate_config_rejects_an_unknown_key(installed_root, launcher, tmp_path):
    """Control for the tests above: validate-config does fail, with exit 2, naming the key."""
    sample = (installed_root / "usr/local/etc/s2s-agent.yaml.sample").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(sample.replace("  interval: 10", "  intervall: 10", 1))
    r = run_launcher(launcher, "validate-config", "-c", str(bad))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "intervall" in r.stderr


def resync(installed_root: Path, tmp_path: Path, settings: dict) -> tuple[Path, dict]:
    """Run the INSTALLED s2s-agent.inc's resync (php-cli, pfSense stand-ins) on config.xml
    holding ``settings``; returns (the written YAML path, the harness output)."""
    php = require_tool("php")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(php_config(settings)))
    inc = installed_root / "usr/local/pkg/s2s-agent.inc"
    r = subprocess.run(
        [php, str(STUBS / "harness.php"), str(inc), str(cfg), str(tmp_path), "resync"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    # not running yet: written, then started through the package's own rc file
    assert [c[0] for c in out["calls"]] == ["write_rcfile", "mwexec", "log_error"], out["calls"]
    return tmp_path / "s2s-agent.yaml", out


RESYNC_CASES = {
    "secret-interface": GUI_SETTINGS,
    "certificate-http": {
        **GUI_SETTINGS,
        "auth_method": "certificate",
        "client_secret": "",
        "client_certificate": PEM,
        "wan_source": "http",
        "quorum": "2",
        "http_endpoints": "https://ip1.example.net/\r\nhttps://ip2.example.org/plain",
    },
    "monitor-only": {**GUI_SETTINGS, "remediation": "", "probe_source": "", "probe_target": ""},
}


@pytest.mark.parametrize("case", sorted(RESYNC_CASES))
def test_validate_config_accepts_what_the_package_resync_writes(
    installed_root, launcher, launcher_crypto, tmp_path, case
):
    """Certificate auth needs py311-cryptography (its absence: test_installed_azure.py)."""
    conf, _ = resync(installed_root, tmp_path, RESYNC_CASES[case])
    chosen = launcher_crypto if case.startswith("certificate") else launcher
    r = run_launcher(chosen, "validate-config", "-c", str(conf))
    assert r.returncode == 0, f"{conf.read_text()}\n{r.stdout}{r.stderr}"
    assert "azure-hq (con1)" in r.stdout
    secret = tmp_path / "s2s-agent" / "azure-secret"
    assert secret.exists() == (case == "secret-interface")
    if secret.exists():
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        assert "not-a-real~secret" not in conf.read_text()


def test_installed_apply_myid_uses_the_installed_inc(installed_root, tmp_path):
    """The shipped helper finds the shipped .inc (<prefix>/pkg) and rewrites phase 1 of a
    realistic config.xml (ikeid 1: static "address" identifier)."""
    php = require_tool("php")
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(php_config(GUI_SETTINGS)))
    dump = tmp_path / "dump.json"
    helper = installed_root / "usr/local/libexec/s2s-agent/apply-myid.php"
    prepend = tmp_path / "prepend.php"  # the fake swanctl of tests/pkg/php_stubs
    prepend.write_text(
        f"<?php define('S2S_AGENT_SWANCTL', '{STUBS}/fake-swanctl');\n"
        f"define('S2S_AGENT_SWANCTL_CONF', '{tmp_path}/swanctl.conf');\n"
    )
    r = subprocess.run(
        [
            php,
            "-d",
            f"include_path={STUBS}",
            "-d",
            f"auto_prepend_file={prepend}",
            str(helper),
            "--ikeid",
            "1",
            "--ip",
            "203.0.113.9",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={
            **clean_env(),
            "S2S_TEST_CONFIG": str(cfg),
            "S2S_TEST_DUMP": str(dump),
            "S2S_TEST_LOADED": str(tmp_path / "loaded"),
            "S2S_TEST_VARRUN": str(tmp_path),
        },
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout) == {
        "changed": True,
        "old": "198.51.100.7",
        "new": "203.0.113.9",
        "pending_applied": False,
    }
    state = json.loads(dump.read_text())
    assert state["config"]["ipsec"]["phase1"][0]["myid_data"] == "203.0.113.9"
    assert [c[0] for c in state["calls"]] == [
        "write_config",
        "ipsec_configure",
        "ipsec_reload_package_hook",
    ]


AGENT_SECTION_PARSERS = """
import json, sys, yaml, importlib
data = yaml.safe_load(open(sys.argv[1]))
out = {}
for section, module, func in (("wan", "config.wan", "parse_wan"),
                              ("pfsense", "config.pfsense", "parse_pfsense"),
                              ("azure", "config.azure", "parse_azure")):
    try:
        mod = importlib.import_module("s2s_agent." + module)
    except ModuleNotFoundError:
        out[section] = "absent"
        continue
    getattr(mod, func)(data[section], sys.argv[1])
    out[section] = "ok"
print(json.dumps(out))
"""


@pytest.mark.parametrize("case", ["secret-interface", "certificate-http"])
def test_resync_sections_pass_the_agents_own_section_parsers(
    installed_root, freebsd_python, freebsd_python_crypto, tmp_path, case
):
    """Run the agent's own section parsers (config.wan/pfsense/azure) on what the .inc writes."""
    conf, _ = resync(installed_root, tmp_path, RESYNC_CASES[case])
    code = AGENT_SECTION_PARSERS.replace("sys.argv[1]", repr(str(conf)))
    python = freebsd_python_crypto if case.startswith("certificate") else freebsd_python
    r = run_python(installed_root, python, code)
    assert r.returncode == 0, f"{conf.read_text()}\n{r.stderr}"
    result = json.loads(r.stdout)
    assert result == {"wan": "ok", "pfsense": "ok", "azure": "ok"}, result


# --- parse on the lab goldens ----------------------------------------------------------------

PARSE_CASES = sorted(
    [
        (f"{d.name}/swanctl-list-sas.txt", "list-sas")
        for d in LAB.iterdir()
        if d.is_dir() and (d / "swanctl-list-sas.txt").exists()
    ]
    + [
        (f"{d.name}/ipsec-statusall.txt", "statusall")
        for d in LAB.iterdir()
        if d.is_dir() and (d / "ipsec-statusall.txt").exists()
    ]
    + [(f"logs/{f.name}", "log") for f in (LAB / "logs").glob("*.log")]
)


def test_parse_cases_cover_every_format():
    assert {fmt for _, fmt in PARSE_CASES} == {"list-sas", "statusall", "log"}
    assert len(PARSE_CASES) >= 9


@pytest.mark.parametrize(("rel", "fmt"), PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_parse_lab_goldens(launcher, rel, fmt):
    raw = LAB / rel
    expected = json.loads((EXPECTED / rel).with_name(raw.stem + ".expected.json").read_text())
    args = ["parse", fmt, str(raw)] + (["--year", "2026"] if fmt == "log" else [])
    r = run_launcher(launcher, *args)
    if isinstance(expected, dict) and expected.get("error") == "ParseError":
        assert r.returncode == 1 and expected["message"] in r.stderr, r.stderr
        return
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == expected
