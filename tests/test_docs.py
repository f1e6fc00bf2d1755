"""docs/ stays true to the tree: what it names exists, and every module is on the map."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGES = [ROOT / "src" / "vlmeval_core", ROOT / "entrypoint" / "vlmeval_launcher"]
# A repository path in backticks: `src/…`, `tests/…`, `docker/…`, `deploy/…`, and so on.
PATH = re.compile(r"`((?:src|entrypoint|tests|docker|deploy|scripts|benchmarks|\.ci)/[^`\s*<]+)`")


def test_every_path_the_docs_name_exists():
    named = {
        (doc.name, match)
        for doc in DOCS.glob("*.md")
        for match in PATH.findall(doc.read_text(encoding="utf-8"))
    }
    assert len(named) > 20
    missing = sorted(f"{doc}: {path}" for doc, path in named if not (ROOT / path).exists())
    assert not missing, missing


def test_the_architecture_page_maps_every_module():
    text = (DOCS / "architecture.md").read_text(encoding="utf-8")
    modules = [m for package in PACKAGES for m in package.rglob("*.py") if m.name != "__init__.py"]
    unmapped = sorted(str(m.relative_to(ROOT)) for m in modules if m.name not in text)
    assert not unmapped, f"add a line for each to docs/architecture.md's layout: {unmapped}"


def test_no_file_cites_an_architecture_page_the_repository_lacks():
    cited = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in package.rglob("*.py")
        if "ARCHITECTURE.md" in path.read_text(encoding="utf-8")
    ]
    assert not cited, f"cite docs/architecture.md instead: {cited}"
    assert (DOCS / "architecture.md").is_file() and (DOCS / "extending.md").is_file()
