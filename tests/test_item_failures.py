"""One bad item fails alone, wherever it is read: sizes for batching, decoding, image lists,
the processor. A bad table stops the run with the file and row named (exit 2)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import stat
import struct
import threading
import zlib
from pathlib import Path

import pytest
from PIL import Image

from conftest import predictions, run_ranks, run_worker
from vlmeval_core.datasets import shapes
from vlmeval_core.datasets.tsv import ItemImageError, load_tsv
from vlmeval_core.errors import UsageError
from vlmeval_core.inference import BatchRunner, by_length, estimated_length


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with no pixel data at all."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    comment = b"Comment\x00" + b"long enough not to read as a reference to another row" * 2
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"tEXt", comment)
        + chunk(b"IEND", b"")
    )


GOOD = b64(png_bytes(Image.new("RGB", (56, 56), (255, 0, 0))))
BOMB = b64(png_header_only(30000, 30000))  # Pillow raises DecompressionBombError on open
OVER_BUDGET = b64(png_bytes(Image.new("1", (9500, 9500))))  # decodable, 90.25 M pixels
DEEP_LIST = "[" * 100_000  # json.loads: RecursionError
WIDE = b64(png_bytes(Image.new("RGB", (8000, 10), (0, 0, 255))))  # aspect ratio 800

BAD_CELLS = {
    "decompression bomb": (BOMB, "over the pixel budget"),
    "over the pixel budget": (
        OVER_BUDGET,
        f"9500x9500 pixels, over the budget of {Image.MAX_IMAGE_PIXELS:,}",
    ),
    "deeply nested list": (DEEP_LIST, "image list is neither JSON nor a Python list"),
    "broken JSON list": ('["' + GOOD + '", ', "image list is neither JSON nor a Python list"),
}


def write_tsv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = ["\t".join(header)] + ["\t".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def one_bad_row(tmp_path: Path, cell: str) -> Path:
    return write_tsv(
        tmp_path / "Bad.tsv",
        ["index", "image", "question", "answer"],
        [[0, GOOD, "colour?", "red"], [1, cell, "colour?", "red"], [2, GOOD, "colour?", "red"]],
    )


@pytest.mark.parametrize("case", BAD_CELLS)
def test_an_unreadable_image_cell_fails_its_item_and_does_not_stop_sorting(tmp_path, case):
    cell, reason = BAD_CELLS[case]
    dataset = load_tsv(one_bad_row(tmp_path, cell))

    assert dataset.image_sizes(1) == [], "size unknown: the item fails when it is decoded"
    assert estimated_length(dataset, 1) >= 0
    assert sorted(by_length(dataset, [0, 1, 2])) == [0, 1, 2]
    with pytest.raises(ItemImageError) as failure:
        dataset.images(1)
    assert str(failure.value).startswith("Bad.tsv: index 1: ")
    assert reason in str(failure.value)
    assert dataset.images(0)[0].size == (56, 56)


def finishes(call, seconds: float = 60):
    """Run ``call`` in a thread: (finished, its exception). A guard against a hang, not a
    measurement: a reader stuck on a FIFO would never come back."""
    outcome: dict[str, BaseException | None] = {}

    def target() -> None:
        try:
            call()
            outcome["error"] = None
        except BaseException as exc:  # handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    return "error" in outcome, outcome.get("error")


def release_fifo_readers(fifo: Path) -> None:
    """Open and close the FIFO's writing end, so a reader blocked on it sees end-of-file."""
    with contextlib.suppress(OSError):  # nobody is reading: nothing to release
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def special_file(directory: Path, kind: str) -> str:
    path = directory / f"{kind}.png"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:
        try:
            os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # like /dev/zero
        except PermissionError:
            pytest.skip("creating a device node needs CAP_MKNOD")
    return path.name


@pytest.mark.parametrize(
    ("kind", "named"), [("fifo", "a FIFO"), ("directory", "a directory"), ("device", "a device")]
)
def test_a_special_file_as_image_path_fails_its_item_without_blocking(tmp_path, kind, named):
    name = special_file(tmp_path, kind)
    Image.new("RGB", (56, 56)).save(tmp_path / "ok.png")
    dataset = load_tsv(
        write_tsv(
            tmp_path / "Paths.tsv",
            ["index", "image_path", "question", "answer"],
            [[0, "ok.png", "colour?", "black"], [1, name, "colour?", "black"]],
        )
    )
    try:
        sized, error = finishes(lambda: dataset.image_sizes(1))
        assert sized and error is None
        assert dataset.image_sizes(1) == []
        decoded, error = finishes(lambda: dataset.images(1))
        assert decoded, f"reading the {kind} blocked"
    finally:
        if kind == "fifo":
            release_fifo_readers(tmp_path / name)
    assert isinstance(error, ItemImageError)
    assert f"Paths.tsv: index 1: image_path {str(tmp_path / name)!r} is {named}" in str(error)
    assert dataset.images(0)[0].size == (56, 56)


@pytest.mark.slow
def test_an_item_the_processor_refuses_fails_alone_and_the_batch_goes_on(tmp_path):
    from vlmeval_core.models.hf import VisionLanguageModel
    from vlmeval_core.models.registry import TINY_VLM_DIR
    from vlmeval_core.run_plan import ModelSpec

    model = VisionLanguageModel(ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR)), "cpu")
    dataset = load_tsv(one_bad_row(tmp_path, WIDE))
    runner = BatchRunner(model, max_new_tokens=4, batch_size=3)

    results = {
        a.position: (a.prediction, a.error) for a in runner.run(runner.prepare(dataset, [0, 1, 2]))
    }

    assert sorted(results) == [0, 1, 2]
    assert "Bad.tsv: index 1: the model's processor refused the item" in results[1][1]
    assert "aspect ratio" in results[1][1]
    assert results[0][1] is None and results[2][1] is None
    assert results[0][0] == results[2][0] != ""  # the same image and question


@pytest.mark.slow
def test_a_prompt_longer_than_the_model_s_context_fails_alone_before_generation(tmp_path):
    from vlmeval_core.models.hf import VisionLanguageModel
    from vlmeval_core.models.registry import TINY_VLM_DIR
    from vlmeval_core.run_plan import ModelSpec

    model = VisionLanguageModel(ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR)), "cpu")
    long_question = " ".join(["colour"] * 5000)
    dataset = load_tsv(
        write_tsv(
            tmp_path / "Long.tsv",
            ["index", "image", "question", "answer"],
            [[0, GOOD, "colour?", "red"], [1, GOOD, long_question, "red"]],
        )
    )
    runner = BatchRunner(model, max_new_tokens=4, batch_size=2)

    results = {
        a.position: (a.prediction, a.error) for a in runner.run(runner.prepare(dataset, [0, 1]))
    }

    assert "Long.tsv: index 1: " in results[1][1]
    assert "over the model's context of 1024 tokens" in results[1][1]  # max_position_embeddings
    assert results[0][1] is None and results[0][0] != ""


# --------------------------------------------------------------------------- bad tables


def test_a_table_with_a_header_and_no_rows_is_refused(tmp_path):
    path = write_tsv(tmp_path / "Empty.tsv", ["index", "image", "question", "answer"], [])
    with pytest.raises(UsageError, match=r"Empty\.tsv: the file has a header but no rows"):
        load_tsv(path)


@pytest.mark.parametrize(
    ("index", "why"),
    [
        ("99999999999999999999", "does not fit in 64 bits"),
        ("9223372036854775808", "does not fit in 64 bits"),
        ("١٢", "is not a whole number (ASCII digits"),
        ("12", None),
        ("-9223372036854775808", None),
    ],
)
def test_an_index_must_be_ascii_digits_that_fit_in_64_bits(tmp_path, index, why):
    path = write_tsv(
        tmp_path / "Index.tsv",
        ["index", "image", "question", "answer"],
        [[1, GOOD, "q", "a"], [index, GOOD, "q", "a"]],
    )
    if why is None:
        assert load_tsv(path).frame["index"].tolist() == [1, int(index)]
        return
    with pytest.raises(UsageError) as refused:
        load_tsv(path)
    assert str(refused.value).startswith(f"{path}: row 3: index ")
    assert why in str(refused.value)


def test_a_bad_table_stops_the_worker_with_one_line_and_exit_2(tmp_path, plan_factory):
    path = write_tsv(
        tmp_path / "Huge.tsv",
        ["index", "image", "question", "answer"],
        [[1, GOOD, "q", "a"], ["99999999999999999999", GOOD, "q", "a"]],
    )
    done = run_worker(plan_factory([str(path)]))
    assert done.returncode == 2, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert errors == [
        f"vlmeval: error: {path}: row 3: index 99999999999999999999 does not fit in 64 bits "
        f"(from {-(2**63)} to {2**63 - 1})"
    ]
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_bad_items_among_good_ones_fail_alone_in_a_real_run(tmp_path, plan_factory):
    frame = shapes.generate("ShapesVQA", n=10)
    frame["image_path"] = ""
    os.mkfifo(tmp_path / "fifo.png")
    (tmp_path / "folder.png").mkdir()
    bad = {
        1: ("image", BOMB, "over the pixel budget"),
        2: ("image", WIDE, "the model's processor refused the item"),
        4: ("image", DEEP_LIST, "image list is neither JSON nor a Python list"),
        6: ("image_path", "fifo.png", "is a FIFO, not an image file"),
        7: ("image_path", "folder.png", "is a directory, not an image file"),
        8: ("image", json.dumps([GOOD, OVER_BUDGET]), "over the budget"),
    }
    for index, (column, value, _) in bad.items():
        if column == "image_path":
            frame.loc[index, "image"] = ""
        frame.loc[index, column] = value
    path = tmp_path / "Mixed.tsv"
    frame.to_csv(path, sep="\t", index=False)
    plan = plan_factory([str(path)])

    try:
        done = run_ranks(plan, nproc=2, timeout=600)
    finally:
        release_fifo_readers(tmp_path / "fifo.png")

    assert done.returncode == 0, done.stderr[-3000:]
    by_index = {p["index"]: p for p in predictions(plan, "Mixed")}
    assert sorted(by_index) == list(range(10))
    for index, (_, _, reason) in bad.items():
        assert by_index[index]["error"].startswith(f"Mixed.tsv: index {index}: ")
        assert reason in by_index[index]["error"]
        assert by_index[index]["correct"] is False
    good = [i for i in range(10) if i not in bad]
    assert all(by_index[i]["error"] is None and by_index[i]["prediction"] for i in good)
    scores = json.loads((plan.run_dir / "Mixed" / "scores.json").read_text())
    assert scores["n"] == 10 and scores["errors"] == len(bad)
