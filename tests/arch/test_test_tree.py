"""Test modules import shared helpers from helper modules, never from another test module."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_imports(path: Path) -> list[str]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[-1].startswith("test_"):
                out.append(node.module)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[-1].startswith("test_")]
    return out


test_imports.__test__ = False  # a helper, not a test


def test_no_test_module_imports_another():
    bad = {str(p.relative_to(TESTS)): m for p in TESTS.rglob("*.py") if (m := test_imports(p))}
    assert bad == {}


def test_unit_tests_mirror_the_package():
    stages = {"core", "config", "decide", "observe", "act", "tell", "daemon"}
    assert stages <= {p.name for p in TESTS.iterdir() if p.is_dir()}
    assert not (TESTS / "unit").exists()
