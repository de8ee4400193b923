"""The package's layers: every import of an ernie_m module, at the top of a file or inside a
function, points to its own layer or one below it (the data's way: corpus -> batches -> model ->
training -> evaluation -> experiments -> command line). Relative imports are refused by ruff's TID252."""

from __future__ import annotations

import ast
from pathlib import Path

import ernie_m

PACKAGE = Path(ernie_m.__file__).parent

# Lowest first; a module belongs to the first layer with a prefix of its dotted name.
LAYERS = (
    ("ernie_m.errors", "ernie_m.files", "ernie_m.provenance", "ernie_m.device", "ernie_m.hub"),
    ("ernie_m.config",),
    ("ernie_m.data",),
    ("ernie_m.objectives",),
    ("ernie_m.model", "ernie_m.loss"),
    ("ernie_m.card",),
    ("ernie_m.convert", "ernie_m.train"),
    ("ernie_m.evaluate",),
    ("ernie_m.experiments",),
    ("ernie_m.cli", "ernie_m.__main__"),
)


def layer(module: str) -> int:
    if module == "ernie_m":  # the package's __init__: the top
        return len(LAYERS) - 1
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module}: in no layer; add it to LAYERS")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.Module) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "ernie_m":  # from ernie_m import card
            found += [(node.lineno, f"ernie_m.{a.name}") for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ernie_m."):
            found += [(node.lineno, node.module)]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("ernie_m")]
    return found


def upward_imports() -> list[str]:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = module_name(path)
        for line, target in imported(ast.parse(path.read_text(encoding="utf-8"))):
            if layer(target) > layer(importer):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line}: {importer} imports {target}")
    return wrong


def test_every_import_points_down_or_sideways():
    assert upward_imports() == []


def test_the_check_sees_upward_imports_in_functions_and_from_the_package():
    tree = ast.parse("def f():\n    from ernie_m.evaluate.report import read_results\n    from ernie_m import cli\n")
    assert [(target, layer(target) > layer("ernie_m.card")) for _, target in imported(tree)] == [
        ("ernie_m.evaluate.report", True),
        ("ernie_m.cli", True),
    ]
