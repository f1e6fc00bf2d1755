"""Start-up that keeps the speed-up: a Shapes TSV already in the data dir is checked by its
md5 and used as it is, not generated again; and each image is decoded once per item."""

from __future__ import annotations

import pytest

from vlmeval_core.datasets import on_disk, shapes
from vlmeval_core.datasets.registry import resolve_dataset
from vlmeval_core.files import file_md5


@pytest.mark.parametrize("name", sorted(shapes.GENERATED_MD5))
def test_the_recorded_md5_is_the_generated_sets(name, tmp_path):
    path = shapes.write_tsv(name, tmp_path)
    assert file_md5(path) == shapes.GENERATED_MD5[name]


def test_a_current_shapes_file_is_used_without_generating_the_set_again(tmp_path, monkeypatch):
    ref = resolve_dataset("ShapesMCQ")
    path = on_disk.ensure_on_disk(ref, tmp_path, tmp_path / "run", seed=0)
    written = path.stat().st_mtime_ns

    def no_generation(*args, **kwargs):  # fault injection: generating now is the failure
        raise AssertionError("the Shapes set was generated again")

    monkeypatch.setattr(shapes, "generate", no_generation)
    assert on_disk.ensure_on_disk(ref, tmp_path, tmp_path / "run", seed=0) == path
    assert path.stat().st_mtime_ns == written


def test_a_changed_shapes_file_is_generated_again(tmp_path):
    ref = resolve_dataset("ShapesYN")
    path = on_disk.ensure_on_disk(ref, tmp_path, tmp_path / "run", seed=0)
    path.write_text(path.read_text().replace("Yes", "No", 1))
    assert file_md5(path) != shapes.GENERATED_MD5["ShapesYN"]

    on_disk.ensure_on_disk(ref, tmp_path, tmp_path / "run", seed=0)
    assert file_md5(path) == shapes.GENERATED_MD5["ShapesYN"]


@pytest.mark.slow
def test_each_image_is_decoded_once_also_when_a_batch_is_split(tmp_path, monkeypatch):
    import hashlib

    import torch

    from vlmeval_core.backends import predict_missing
    from vlmeval_core.datasets import tsv
    from vlmeval_core.distributed import RankInfo
    from vlmeval_core.inference import Transformers
    from vlmeval_core.models.hf import VisionLanguageModel
    from vlmeval_core.models.registry import TINY_VLM_DIR
    from vlmeval_core.run_plan import ModelSpec

    dataset = tsv.load_tsv(shapes.write_tsv("ShapesMCQ", tmp_path / "data"), "ShapesMCQ")
    dataset.frame = dataset.frame.head(24)
    decoded: list[str] = []
    real_decode = tsv._decoded

    def counting_decode(source):  # a spy: the real decoder, counted
        decoded.append(hashlib.md5(source if isinstance(source, bytes) else b"").hexdigest())
        return real_decode(source)

    monkeypatch.setattr(tsv, "_decoded", counting_decode)
    model = VisionLanguageModel(ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR)), "cpu")

    class OutOfMemoryAbove4:  # the hardware boundary: batches over 4 items do not fit
        def encode(self, batch):
            return model.encode(batch)

        def generate_encoded(self, inputs, max_new_tokens):
            if inputs["input_ids"].shape[0] > 4:
                raise torch.OutOfMemoryError("CUDA out of memory")
            return model.generate_encoded(inputs, max_new_tokens)

    stats = predict_missing(
        Transformers(OutOfMemoryAbove4, 8, 4), dataset, tmp_path / "run", range(24),
        RankInfo(0, 1, 0, 1), show_progress=False,
    )  # fmt: skip
    assert stats.predicted == 24 and stats.batch_size == 4
    assert len(decoded) == 24 and len(set(decoded)) == 24
