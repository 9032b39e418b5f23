"""Run the installed package the way a pfSense box would, with nothing of the project venv.

* :func:`make_freebsd_python`: a fresh venv (no system site-packages): pfSense's python311
  with nothing but the standard library (the package's only dependency), or plus the modules
  of FreeBSD's py311-cryptography (:data:`CRYPTOGRAPHY_MODULES`, the optional one).
* :func:`make_launcher`: the installed ``/usr/local/bin/s2s-agent`` with the interpreter and
  the lib dir pointed into the temporary root, run with ``sh`` (it keeps ``-I``).
* :func:`run_python`: ``python -I -c CODE`` with only the vendored folder prepended.

Every run gets a clean environment: no ``PYTHON*`` variables, no ``REQUESTS_CA_BUNDLE``.
"""

from __future__ import annotations

import os
import subprocess
import sysconfig
import venv
from pathlib import Path

LIB = "/usr/local/lib/s2s-agent"
TIMEOUT = 180
#: what FreeBSD's py311-cryptography (security/py-cryptography) puts in site-packages
CRYPTOGRAPHY_MODULES = ("cryptography", "cffi", "_cffi_backend", "pycparser")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        env.pop(name, None)
    return env


def make_freebsd_python(env_dir: Path, system_modules: tuple[str, ...]) -> Path:
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
    for name in system_modules:
        found = [
            p
            for p in src_site.iterdir()
            if p.name == name or p.name == f"{name}.py" or p.name.startswith(f"{name}.cpython")
        ]
        if not found:
            raise FileNotFoundError(f"{name} is not in the project venv ({src_site})")
        for p in found:
            (site / p.name).symlink_to(p)
    return py


def make_launcher(
    installed_root: Path, python: Path, name: str = "s2s-agent-test-launcher"
) -> Path:
    """The installed launcher with the interpreter and the lib dir pointed into the tmp root."""
    text = (installed_root / "usr/local/bin/s2s-agent").read_text()
    if "/usr/local/bin/python3.11 -I " not in text:
        raise AssertionError(f"the launcher no longer runs python3.11 -I:\n{text}")
    text = text.replace("/usr/local/bin/python3.11", str(python))
    text = text.replace(LIB, str(installed_root) + LIB)
    path = installed_root / name
    path.write_text(text)
    path.chmod(0o755)
    return path


def run_launcher(
    launcher: Path, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(launcher), *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=clean_env(),
        cwd=cwd or launcher.parent,
    )


def run_python(installed_root: Path, python: Path, code: str) -> subprocess.CompletedProcess:
    prelude = f"import sys; sys.path[:0] = [{str(installed_root) + LIB!r}]\n"
    return subprocess.run(
        [str(python), "-I", "-c", prelude + code],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=clean_env(),
        cwd=installed_root,
    )


# --- the package scripts' chroot(8), for tests ----------------------------------------------
DROPPED = "/usr/local/share/s2s-agent/azure-role.json"  # in 0.1.0 only (test_pkg8's upgrade)
ADDED = "/usr/local/share/s2s-agent/added-in-0.2.0.txt"  # in its 0.2.0 only
PYCACHE = "/usr/local/lib/s2s-agent/s2s_agent/__pycache__"

CHROOT_STUB = f"""#!/bin/sh
# chroot(8) stand-in for the package scripts: records the call, runs nothing.
root="$1"; shift
mark() {{ if [ -e "$root$1" ]; then echo 1; else echo 0; fi; }}
printf '%s\\n' "{{\\"argv\\": \\"$*\\", \\"upgrade\\": \\"${{PKG_UPGRADE:-}}\\", \\"rootdir\\": \\"$PKG_ROOTDIR\\", \\"launcher\\": $(mark /usr/local/bin/s2s-agent), \\"dropped\\": $(mark {DROPPED}), \\"added\\": $(mark {ADDED})}}" >> "$S2S_PKG8_LOG"
case "$1" in
*/python3.11) mkdir -p "$root{PYCACHE}" && : > "$root{PYCACHE}/cli.cpython-311.pyc" ;;
esac
exit 0
"""  # noqa: E501


def write_chroot_stub(bin_dir: Path) -> Path:
    """A ``chroot`` for PATH that appends one JSON line per call to $S2S_PKG8_LOG: argv,
    PKG_UPGRADE, PKG_ROOTDIR and which marker files exist in the root at that moment; for
    the byte-compile call it writes a ``__pycache__`` as compileall would. Runs nothing."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "chroot"
    path.write_text(CHROOT_STUB)
    path.chmod(0o755)
    return path
