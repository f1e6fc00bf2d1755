"""What the wheel packages (pyproject.toml's package-data) exists: each pattern names files
(``models/*.json`` once named none, the records being Python)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_each_package_data_pattern_matches_files_of_its_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    where = config["tool"]["setuptools"]["packages"]["find"]["where"]
    empty = []
    for package, patterns in config["tool"]["setuptools"]["package-data"].items():
        directory = next(ROOT / w / package for w in where if (ROOT / w / package).is_dir())
        empty += [
            f"{package}: {p}" for p in patterns if not any(f.is_file() for f in directory.glob(p))
        ]
    assert empty == []
