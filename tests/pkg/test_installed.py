"""The installed tree works with only what FreeBSD would provide.

The archive is extracted into a temporary root; the launcher's Python code runs with
``python3 -I`` in a fresh venv whose site-packages holds only the compiled dependencies the
package declares (standing in for FreeBSD's py311-* packages), plus the vendored folder.
More checks (``validate-config``, ``parse``, an LNG update against tests/fakeazure) can be
added as further ``run_agent_python`` / ``run_launcher`` calls.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from .conftest import ROOT, load_builder

LIB = "/usr/local/lib/s2s-agent"


@pytest.fixture(scope="module")
def freebsd_python(tmp_path_factory) -> Path:
    """A venv (no system site-packages) with only the declared compiled deps in it."""
    vendor = load_builder().vendor
    env_dir = tmp_path_factory.mktemp("py311")
    venv.EnvBuilder(with_pip=False, system_site_packages=False, symlinks=True).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    src_site = Path(sysconfig.get_paths()["purelib"])
    for name in vendor.SYSTEM_MODULES:
        found = [
            p
            for p in src_site.iterdir()
            if p.name == name or p.name == f"{name}.py" or p.name.startswith(f"{name}.cpython")
        ]
        assert found, f"{name} is not in the project venv"
        for p in found:
            (site / p.name).symlink_to(p)
    return py


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.pop("REQUESTS_CA_BUNDLE", None)
    return env


def launcher_for(installed_root: Path, python: Path) -> Path:
    """The installed launcher with the interpreter and the lib dir pointed into the tmp root."""
    text = (installed_root / "usr/local/bin/s2s-agent").read_text()
    assert "/usr/local/bin/python3.11 -I " in text
    text = text.replace("/usr/local/bin/python3.11", str(python))
    text = text.replace(LIB, str(installed_root) + LIB)
    path = installed_root / "s2s-agent-test-launcher"
    path.write_text(text)
    path.chmod(0o755)
    return path


def run_agent_python(installed_root: Path, python: Path, code: str) -> subprocess.CompletedProcess:
    prelude = f"import sys; sys.path[:0] = [{str(installed_root) + LIB!r}]\n"
    return subprocess.run(
        [str(python), "-I", "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        cwd=installed_root,
    )


def test_isolation_sanity(installed_root, freebsd_python):
    """The simulated system has the compiled deps but none of the vendored ones."""
    r = subprocess.run(
        [
            str(freebsd_python),
            "-I",
            "-c",
            "import yaml, requests, cryptography\n"
            "try:\n import azure.core\nexcept ImportError: print('no-azure')\n",
        ],
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "no-azure"


def test_agent_package_imports_from_the_vendored_tree(installed_root, freebsd_python):
    r = run_agent_python(
        installed_root,
        freebsd_python,
        "import s2s_agent, s2s_agent.config, vici\n"
        "print(s2s_agent.__version__); print(s2s_agent.__file__); print(vici.__file__)",
    )
    assert r.returncode == 0, r.stderr
    version, agent_file, vici_file = r.stdout.split()
    assert version == load_builder().agent_version()
    assert agent_file.startswith(str(installed_root)) and vici_file.startswith(str(installed_root))


def test_azure_sdk_from_the_pruned_tree(installed_root, freebsd_python):
    code = """
import azure.core, azure.identity, azure.mgmt.network, msal, jwt
from azure.identity import ClientSecretCredential
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import LocalNetworkGateway, AddressSpace
for m in (azure.core, azure.identity, azure.mgmt.network, msal, jwt):
    assert m.__file__.startswith(sys.path[0]), m.__file__
cred = ClientSecretCredential("00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002",
                              "not-a-secret", authority="https://127.0.0.1:1",
                              disable_instance_discovery=True)
client = NetworkManagementClient(cred, "00000000-0000-0000-0000-000000000003",
                                 base_url="https://127.0.0.1:1")
assert callable(client.local_network_gateways.begin_create_or_update)
assert callable(client.local_network_gateways.get)
assert callable(client.virtual_network_gateway_connections.begin_reset_connection)
assert callable(client.virtual_network_gateway_connections.get)
lng = LocalNetworkGateway(location="westeurope", gateway_ip_address="203.0.113.9",
                          local_network_address_space=AddressSpace(address_prefixes=["192.168.1.0/24"]))
assert lng.gateway_ip_address == "203.0.113.9"
try:
    import azure.mgmt.network.aio
except ImportError:
    print("aio-pruned")
print("ok")
"""
    r = run_agent_python(installed_root, freebsd_python, code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["aio-pruned", "ok"]


def test_launcher_version(installed_root, freebsd_python):
    if not (ROOT / "agent/s2s_agent/cli.py").exists():
        pytest.skip("agent/s2s_agent/cli.py does not exist yet")
    launcher = launcher_for(installed_root, freebsd_python)
    r = subprocess.run(
        ["sh", str(launcher), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        cwd=installed_root,
    )
    assert r.returncode == 0, r.stderr
    assert load_builder().agent_version() in r.stdout + r.stderr


def test_launcher_is_isolated():
    """-I must stay: PYTHONPATH or a stray s2s_agent in the cwd must not be picked up."""
    text = load_builder().LAUNCHER
    assert " -I " in text and 'sys.path[:0] = ["{libdir}"]' in text
    assert sys.executable  # keep the module importable without the archive fixture
