"""Start-up that keeps the speed-up: a Shapes TSV already in the data dir is checked by its
md5 and used as it is, not generated again; and each image is decoded once per item."""

from __future__ import annotations

import pytest

from vlmeval_core.datasets import prepare as preparing
from vlmeval_core.datasets import shapes
from vlmeval_core.datasets.registry import resolve_dataset
from vlmeval_core.identity import file_md5


@pytest.mark.parametrize("name", sorted(shapes.GENERATED_MD5))
def test_the_recorded_md5_is_the_generated_sets(name, tmp_path):
    path = shapes.write_tsv(name, tmp_path)
    assert file_md5(path) == shapes.GENERATED_MD5[name]


def test_a_current_shapes_file_is_used_without_generating_the_set_again(tmp_path, monkeypatch):
    ref = resolve_dataset("ShapesMCQ")
    path = preparing.prepare(ref, tmp_path, tmp_path / "run", seed=0)
    written = path.stat().st_mtime_ns

    def no_generation(*args, **kwargs):  # fault injection: generating now is the failure
        raise AssertionError("the Shapes set was generated again")

    monkeypatch.setattr(shapes, "generate", no_generation)
    assert preparing.prepare(ref, tmp_path, tmp_path / "run", seed=0) == path
    assert path.stat().st_mtime_ns == written


def test_a_changed_shapes_file_is_generated_again(tmp_path):
    ref = resolve_dataset("ShapesYN")
    path = preparing.prepare(ref, tmp_path, tmp_path / "run", seed=0)
    path.write_text(path.read_text().replace("Yes", "No", 1))
    assert file_md5(path) != shapes.GENERATED_MD5["ShapesYN"]

    preparing.prepare(ref, tmp_path, tmp_path / "run", seed=0)
    assert file_md5(path) == shapes.GENERATED_MD5["ShapesYN"]
