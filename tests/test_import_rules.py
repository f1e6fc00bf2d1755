"""Imports run one way (issue 18, point 6): the datasets and the model records sit below
the plan and the identity built from them, and no module reaches for another's private
names (download.py used files._fsync_dir). Read from the source, functions' own imports
included."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (ROOT / "src" / "vlmeval_core", ROOT / "entrypoint" / "vlmeval_launcher")

LOWER_FLOORS = ("vlmeval_core.datasets", "vlmeval_core.models")
"""What the plan and the identity are built from."""
UPPER_FLOORS = (
    "vlmeval_core.identity",
    "vlmeval_core.run_plan",
    "vlmeval_core.manifest",
    "vlmeval_core.worker",
    "vlmeval_launcher",
)
"""What is built from them: never imported by a lower floor."""


def module_name(path: Path) -> str:
    package_root = next(p for p in PACKAGES if p in path.parents).parent
    parts = path.relative_to(package_root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for each import of ``path``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [alias.name for alias in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in package.rglob("*.py"))


def within(module: str, floors: tuple[str, ...]) -> bool:
    return any(module == f or module.startswith(f + ".") for f in floors)


def test_no_lower_floor_imports_an_upper_one():
    upward = [
        f"{module_name(path)}:{line} imports {imported}"
        for path in sources()
        if within(module_name(path), LOWER_FLOORS)
        for imported, _names, line in imports(path)
        if within(imported, UPPER_FLOORS)
    ]
    assert upward == []


def test_no_module_imports_another_modules_private_names():
    private = [
        f"{module_name(path)}:{line} imports {name} from {imported}"
        for path in sources()
        for imported, names, line in imports(path)
        if imported.startswith(("vlmeval_core", "vlmeval_launcher"))
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert private == []
