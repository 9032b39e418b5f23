"""The Makefile's Debian package list is complete: proven with dpkg on this machine.

`make apt` installs ``APT_PACKAGES`` with ``--no-install-recommends`` on a fresh Debian 12, so
every file the lab and the tests use must come from a listed package (or one a listed package
depends on, or one every Debian system has: Essential / Priority required, or the README's
prerequisites ``git make``). For each such file this asks ``dpkg -S`` which package ships it
and fails naming the package missing from the Makefile.

Files checked:
- every plugin of the lab charon's ``load`` list (tests/lab/config.PLUGINS);
- every plugin swanctl's compiled-in list wants: swanctl names them itself when it runs in a
  private mount namespace with an empty plugin directory (``plugin 'aesni': failed to load
  ...``, one line per plugin, in load order);
- every external command the lab and the tests run (COMMANDS; a scan of the sources keeps
  that list honest) and the strongSwan daemons they start.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest

from tests.lab import plugins
from tests.lab.config import PLUGINS
from tests.lab.lab import CHARON

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (
    "ip",
    "ping",
    "nsenter",
    "unshare",
    "mount",
    "umount",
    "swanctl",
    "ipsec",
    "php",
    "bsdtar",
    "xz",
    "zstd",
    "shellcheck",
    "git",
    "make",
    "sh",
    "dpkg-query",
    "echo",
    "sleep",
    "ps",
    "kill",
)
"""External commands run by the lab (tests/lab), the tests, the package builder, make lint
and .ci/run (git, make)."""
DAEMONS = (CHARON, "/usr/lib/ipsec/starter", "/usr/lib/ipsec/stroke", "/usr/bin/python3")
"""Programs started by path: charon, `ipsec start`'s starter, `ipsec statusall`'s stroke,
and the interpreter of `make venv` on Debian (python3-venv pulls it in)."""
_SCANNED = re.compile(
    r"""(?:require_tool|shutil\.which)\(\s*"([\w.+-]+)"|"""
    r"""(?:run|exec|Popen|check_output|check_call)\(\s*\[\s*"([\w.+/-]+)"|"""
    r"""\bunshare",\s*"-m",\s*"(sh)\""""
)

pytestmark = pytest.mark.skipif(
    shutil.which("dpkg-query") is None, reason="not a Debian system (no dpkg-query)"
)


def apt_packages() -> set[str]:
    """``APT_PACKAGES`` of the Makefile (continuation lines joined)."""
    text = (ROOT / "Makefile").read_text().replace("\\\n", " ")
    m = re.search(r"^APT_PACKAGES\s*:?=\s*(.*)$", text, re.M)
    assert m, "Makefile has no APT_PACKAGES line"
    return set(m.group(1).split())


def readme_prerequisites() -> set[str]:
    """The packages of the README's ``apt-get install -y ...`` prerequisite line."""
    m = re.search(r"apt-get install -y ([\w .+-]+?)`", (ROOT / "README.md").read_text())
    assert m, "README.md does not state `apt-get install -y git make` as the prerequisite"
    return set(m.group(1).split())


@cache
def _query(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["dpkg-query", *args], capture_output=True, text=True, timeout=30, check=False
    )


def _aliases(path: str) -> list[str]:
    """``path``, its real path and their usrmerge twins (/usr/bin/ip is dpkg's /sbin/ip)."""
    out: list[str] = []
    for p in (path, os.path.realpath(path)):
        out.append(p)
        for usr, root in (("/usr/bin/", "/bin/"), ("/usr/sbin/", "/sbin/"), ("/usr/lib/", "/lib/")):
            if p.startswith(usr):
                out.append(root + p[len(usr) :])
            elif p.startswith(root):
                out.append(usr + p[len(root) :])
    return list(dict.fromkeys(out))


def owner(path: str) -> str | None:
    """The package dpkg says ships ``path`` (diversion lines skipped), or None."""
    for alias in _aliases(path):
        res = _query("-S", alias)
        for line in res.stdout.splitlines():
            pkg, sep, _ = line.partition(": ")
            if sep and " " not in pkg:
                return pkg.split(",")[0].split(":")[0]
    return None


@cache
def always_there(pkg: str) -> bool:
    """Essential or Priority required: on every Debian 12 system, even a minimal one."""
    res = _query("-W", "-f", "${Essential} ${Priority}", pkg)
    return res.stdout.strip() in ("yes required", "no required", "yes important")


@cache
def depends(pkg: str) -> set[str]:
    """Direct Depends/Pre-Depends of an installed package (alternatives all included)."""
    res = _query("-W", "-f", "${Depends}, ${Pre-Depends}", pkg)
    names = re.findall(r"(?:^|[,|]\s*)([a-z0-9][a-z0-9.+-]+)", res.stdout)
    return set(names)


def provided(pkg: str) -> bool:
    """Listed, always there, or pulled in (Depends, transitively) by a listed package."""
    if always_there(pkg):
        return True
    seen: set[str] = set()
    todo = list(apt_packages() | readme_prerequisites())
    while todo:
        name = todo.pop()
        if name == pkg:
            return True
        if name not in seen:
            seen.add(name)
            todo += depends(name) - seen
    return False


def problem(what: str, path: str) -> str | None:
    """Why ``path`` (needed for ``what``) is not covered by the Makefile, or None."""
    if not os.path.exists(path):
        return f"{what}: {path} does not exist on this machine (install its package; `make apt`)"
    pkg = owner(path)
    if pkg is None:
        return f"{what}: {path} belongs to no Debian package (dpkg -S finds nothing)"
    if not provided(pkg):
        return f"{what}: {path} is in Debian package {pkg}: add {pkg} to APT_PACKAGES in Makefile"
    return None


def swanctl_plugins() -> list[str]:
    """swanctl's compiled-in plugin list, named by swanctl itself with no plugin file there."""
    if shutil.which("swanctl") is None or shutil.which("unshare") is None:
        pytest.fail("swanctl/unshare missing: run `make apt`")
    ns = ["unshare", "-m"] if os.geteuid() == 0 else ["unshare", "-r", "-m"]
    script = f'mount -t tmpfs none {plugins.PLUGIN_DIR} && exec swanctl --version --uri "$0"'
    res = subprocess.run(
        [*ns, "sh", "-c", script, "unix:///nonexistent/charon.vici"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    names = re.findall(r"^plugin '([^']+)': failed to load", res.stderr, re.M)
    if not names:
        pytest.skip(f"cannot hide the plugin directory from swanctl here: {res.stderr[-300:]}")
    return names


def test_makefile_lists_the_package_of_every_lab_charon_plugin():
    problems = [
        problem(f"lab charon plugin {p!r}", plugins.plugin_file(p)) for p in PLUGINS.split()
    ]
    assert [p for p in problems if p] == []


def test_lab_plugin_package_table_agrees_with_dpkg():
    """The package names the lab's LabError recommends are the real ones."""
    wrong = {
        p: (plugins.plugin_package(p), owner(plugins.plugin_file(p)))
        for p in PLUGINS.split()
        if owner(plugins.plugin_file(p)) != plugins.plugin_package(p)
    }
    assert wrong == {}, "tests/lab/plugins.PLUGIN_PACKAGES is wrong: (says, dpkg says)"


def test_makefile_lists_the_package_of_every_swanctl_plugin():
    names = swanctl_plugins()
    assert "aesni" in names and "openssl" in names  # the two a fresh machine lacked
    problems = [problem(f"swanctl plugin {p!r}", plugins.plugin_file(p)) for p in names]
    assert [p for p in problems if p] == []


def test_makefile_lists_the_package_of_every_command_and_daemon():
    problems = []
    for cmd in COMMANDS:
        path = shutil.which(
            cmd, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        )
        problems.append(
            problem(f"command {cmd!r}", path) if path else f"command {cmd!r} is not installed"
        )
    problems += [problem(f"program {d}", d) for d in DAEMONS]
    assert [p for p in problems if p] == []


def test_every_command_the_sources_run_is_checked():
    """A new command started by the lab or the tests must join COMMANDS."""
    found: set[str] = set()
    for base in ("tests", "pkg"):
        for path in (ROOT / base).rglob("*.py"):
            for m in _SCANNED.finditer(path.read_text(encoding="utf-8")):
                found |= {g for g in m.groups() if g}
    found = {Path(c).name for c in found if not c.startswith("-")}
    known = set(COMMANDS) | {Path(d).name for d in DAEMONS}
    assert found - known == set(), "add these to COMMANDS in tests/test_debian_deps.py"


def test_problem_names_the_missing_package(monkeypatch):
    """The failure message says which package to add (here: one the Makefile lacks)."""
    fewer = apt_packages() - {"shellcheck"}
    monkeypatch.setattr("tests.test_debian_deps.apt_packages", lambda: fewer)
    path = shutil.which("shellcheck", path="/usr/bin:/bin")
    assert path, "shellcheck is not installed (make apt)"
    msg = problem("command 'shellcheck'", path)
    assert msg and "add shellcheck to APT_PACKAGES in Makefile" in msg
    assert problem("command 'shellcheck'", path) is not None


def test_lab_stops_naming_a_plugin_charon_did_not_load(monkeypatch):
    """Lab start-up: charon without openssl (its file missing) -> LabError with the package."""
    from tests.lab.netns import LabError

    got = [p for p in PLUGINS.split() if p != "openssl"]
    monkeypatch.setattr(plugins, "loaded", lambda sock: ["charon", *got])
    with pytest.raises(LabError) as err:
        plugins.check("onprem", "/x/charon.vici")
    msg = str(err.value)
    assert "'openssl'" in msg and "libstrongswan-standard-plugins" in msg and "make apt" in msg
    monkeypatch.setattr(plugins, "loaded", lambda sock: ["charon", *PLUGINS.split()])
    plugins.check("onprem", "/x/charon.vici")


# PHP extensions the project's own PHP (the package and its test harness) calls, by the
# function prefix that needs them; each is a shared object in php's extension_dir on Debian
# (php-cli alone has none of these: php-xml ships xml/simplexml/dom, php-mbstring mbstring).
PHP_EXTENSIONS = {
    "simplexml_": "simplexml",
    "xml_parser_": "xml",
    "mb_": "mbstring",
    "DOMDocument": "dom",
}


def php_extensions_used() -> set[str]:
    used = set()
    for path in [
        *ROOT.glob("pkg/**/*.php"),
        *ROOT.glob("pkg/**/*.inc"),
        *ROOT.glob("tests/pkg/**/*.php"),
    ]:
        text = path.read_text(errors="replace")
        for prefix, ext in PHP_EXTENSIONS.items():
            if re.search(
                rf"\b{prefix}\w*\s*\(" if prefix.endswith("_") else rf"\b{prefix}\b", text
            ):
                used.add(ext)
    return used


def test_makefile_lists_the_package_of_every_php_extension_the_php_uses():
    used = php_extensions_used()
    assert "simplexml" in used  # tests/pkg/php_stubs/harness.php reads the package XML with it
    php = shutil.which("php")
    if php is None:
        pytest.fail("php is missing: run `make apt`")
    ext_dir = subprocess.run(
        [php, "-r", 'echo ini_get("extension_dir");'], capture_output=True, text=True, timeout=30
    ).stdout.strip()
    found = [
        problem(f"PHP extension {ext}", os.path.join(ext_dir, f"{ext}.so")) for ext in sorted(used)
    ]
    assert [p for p in found if p] == []
