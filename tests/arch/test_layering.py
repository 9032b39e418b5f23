"""The package's import direction, checked on the source (ast): the tree is the architecture.

Layers, lowest first (docs/architecture.md): ``core`` < ``config`` < ``decide`` < ``observe``
< ``act`` < ``tell`` < the top (``daemon``, ``remedyloop``, ``cli``). A module may import its own
layer or a lower one, never a higher one; ``decide`` does no I/O; modules import no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "agent" / "s2s_agent"
LAYERS = ("core", "config", "decide", "observe", "act", "tell", "top")
TOP = (
    "__init__",
    "__main__",
    "daemon",
    "daemon_reload",
    "daemon_state",
    "remedyloop",
    "multiloop",
    "cli",
)
# stdlib and third-party modules that do I/O: decide must stay pure
IO_MODULES = {
    "os",
    "subprocess",
    "socket",
    "select",
    "selectors",
    "threading",
    "multiprocessing",
    "shutil",
    "signal",
    "fcntl",
    "requests",
    "urllib3",
    "vici",
    "azure",
    "msal",
    "yaml",
    "pathlib",
    "time",
    "tempfile",
    "io",
    "logging.handlers",
    "http",
    "ssl",
}


def module_name(path: Path, root: Path = PKG) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def layer(mod: str) -> str:
    first = mod.split(".")[0]
    return first if first in LAYERS else "top"


def imports_of(path: Path, root: Path = PKG) -> tuple[set[str], set[str]]:
    """(package modules imported, outside top-level modules imported) by one file, at any depth."""
    mod = module_name(path, root)
    pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    inside, outside = set(), set()
    known = {module_name(p, root) for p in root.rglob("*.py")}
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for al in node.names:
                if al.name.startswith("s2s_agent."):
                    inside.add(al.name.removeprefix("s2s_agent."))
                else:
                    outside.add(al.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module and (
                    node.module == "s2s_agent" or node.module.startswith("s2s_agent.")
                ):
                    base = node.module.removeprefix("s2s_agent").lstrip(".")
                else:
                    outside.add(node.module or "")
                    continue
            else:
                parts = [p for p in pkg.split(".") if p]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            for al in node.names:
                sub = f"{base}.{al.name}" if base else al.name
                inside.add(sub if sub in known else base or "__init__")
    return inside, outside


def graph(root: Path = PKG) -> dict[str, set[str]]:
    return {module_name(p, root): imports_of(p, root)[0] for p in sorted(root.rglob("*.py"))}


def violations(root: Path = PKG) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        mod = module_name(path, root)
        inside, outside = imports_of(path, root)
        for dep in sorted(inside):
            if dep in ("__init__", "") and mod != "__main__":
                continue  # __version__
            if LAYERS.index(layer(dep)) > LAYERS.index(layer(mod)):
                out.append(f"{mod} ({layer(mod)}) imports {dep} ({layer(dep)}): upward")
        if layer(mod) == "decide":
            for dep in sorted(inside):
                if layer(dep) not in ("core", "config", "decide") or dep in (
                    "core.osio",
                    "core.atomic",
                    "core.statefile",
                    "core.runlock",
                    "core.background",
                ):
                    out.append(f"{mod} (decide) imports {dep}: decide does no I/O")
            for name in sorted(outside):
                if name.split(".")[0] in IO_MODULES or name in IO_MODULES:
                    out.append(f"{mod} (decide) imports {name}: decide does no I/O")
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(g.get(node, ())):
            if dep not in g or dep == node:
                continue
            if state.get(dep) == 1:
                found.append(stack[stack.index(dep) :] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    return found


def test_imports_go_only_downward():
    assert violations() == []


def test_no_import_cycles():
    g = graph()
    assert sum(map(len, g.values())) > 100  # the graph is really read
    assert cycles(g) == []


def test_every_module_is_in_a_declared_layer():
    for path in PKG.rglob("*.py"):
        mod = module_name(path)
        assert layer(mod) != "top" or mod in TOP, f"{mod}: put it in one of {LAYERS[:-1]}"


@pytest.mark.parametrize(
    ("where", "line", "expect"),
    [
        ("decide/bad.py", "from ..act import executor\n", "upward"),
        ("core/bad.py", "from ..tell.render import render_status\n", "upward"),
        ("config/bad.py", "from ..observe import probe\n", "upward"),
        ("decide/bad.py", "import subprocess\n", "decide does no I/O"),
        ("decide/bad.py", "from ..core import osio\n", "decide does no I/O"),
    ],
)
def test_the_check_fails_on_a_violating_import(tmp_path, where, line, expect):
    import shutil

    root = tmp_path / "s2s_agent"
    shutil.copytree(PKG, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / where).write_text(line)
    assert any(expect in v for v in violations(root)), violations(root)


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
