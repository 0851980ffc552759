"""Layers point down only: server -> rest_shim -> graphql_schema -> app.

Every import of every module is checked, also those inside function bodies, so a layer cannot
reach up by importing lazily.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The packages each layer may not import.
FORBIDDEN: dict[str, frozenset[str]] = {
    "app": frozenset({"graphql_schema", "rest_shim", "server"}),
    "graphql_schema": frozenset({"rest_shim", "server"}),
    "rest_shim": frozenset({"server"}),
}


def imported_packages(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, top-level package) of every absolute import anywhere in the module."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.partition(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.partition(".")[0]))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value.partition(".")[0]))
    return found


def violations(layer: str) -> list[str]:
    out = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, package in imported_packages(tree):
            if package in FORBIDDEN[layer]:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {package}")
    return out


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    assert violations(layer) == []


def test_the_check_sees_imports_inside_functions() -> None:
    source = "def f():\n    from graphql_schema.schema import schema\n    import rest_shim.app\n"
    assert imported_packages(ast.parse(source)) == [(2, "graphql_schema"), (3, "rest_shim")]
