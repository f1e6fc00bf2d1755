"""Loading VLMEvalKit's TSV format: images by value, by reference, in lists and by path;
kinds inferred; a broken file named with its row or column."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from vlmeval_core.datasets.tsv import ItemImageError, infer_kind, load_tsv
from vlmeval_core.errors import UsageError


def png_b64(colour: tuple[int, int, int], size: int = 80) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def write_tsv(path, header, rows):
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


RED, BLUE = png_b64((255, 0, 0)), png_b64((0, 0, 255))


def test_base64_images_references_and_lists_decode_per_item(tmp_path):
    path = write_tsv(
        tmp_path / "Mine.tsv",
        ["index", "image", "question", "answer", "category"],
        [
            [10, RED, "colour?", "red", "c"],
            [11, "10", "same image?", "red", "c"],
            [12, json.dumps([RED, BLUE]), "two?", "2", "c"],
        ],
    )
    dataset = load_tsv(path)
    assert (dataset.name, dataset.kind, len(dataset)) == ("Mine", "vqa", 3)
    assert dataset.images(1)[0].getpixel((0, 0)) == (255, 0, 0)
    assert [im.getpixel((0, 0)) for im in dataset.images(2)] == [(255, 0, 0), (0, 0, 255)]


def test_the_kind_is_inferred_from_the_columns(tmp_path):
    mcq = load_tsv(
        write_tsv(
            tmp_path / "a.tsv",
            ["index", "image", "question", "A", "B", "answer"],
            [[1, RED, "q", "x", "y", "A"]],
        )
    )
    yorn = load_tsv(
        write_tsv(
            tmp_path / "b.tsv",
            ["index", "image", "question", "answer"],
            [[1, RED, "q", "Yes"], [2, RED, "q", "no"]],
        )
    )
    assert (mcq.kind, yorn.kind) == ("mcq", "yorn")
    assert infer_kind(yorn.frame.assign(answer=["Yes", "maybe"])) == "vqa"


def test_an_explicit_kind_wins(tmp_path):
    path = write_tsv(
        tmp_path / "b.tsv", ["index", "image", "question", "answer"], [[1, RED, "q", "Yes"]]
    )
    assert load_tsv(path, kind="vqa").kind == "vqa"


def test_image_path_is_read_relative_to_the_data_directory(tmp_path):
    Image.new("RGB", (8, 8), (0, 255, 0)).save(tmp_path / "green.png")
    path = write_tsv(
        tmp_path / "p.tsv",
        ["index", "image_path", "question", "answer"],
        [
            [1, "green.png", "q", "green"],
            [2, "../outside.png", "q", "x"],
            [3, "/etc/passwd", "q", "x"],
        ],
    )
    dataset = load_tsv(path)
    assert dataset.images(0)[0].getpixel((0, 0)) == (0, 255, 0)
    for position in (1, 2):
        with pytest.raises(ItemImageError, match="outside the data directory"):
            dataset.images(position)


def test_an_undecodable_image_fails_only_its_item(tmp_path):
    path = write_tsv(
        tmp_path / "d.tsv",
        ["index", "image", "question", "answer"],
        [[1, RED, "q", "red"], [2, "bm90IGFuIGltYWdlIGF0IGFsbCwgcmVhbGx5" * 3, "q", "x"]],
    )
    dataset = load_tsv(path)
    assert dataset.images(0)
    with pytest.raises(ItemImageError, match=r"d.tsv: index 2: image cannot be decoded"):
        dataset.images(1)


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        (["index", "image", "answer"], [[1, RED, "a"]], "missing required column(s) question"),
        (["index", "question", "answer"], [[1, "q", "a"]], "missing column 'image'"),
        (
            ["index", "image", "question", "answer"],
            [[1, RED, "q", "a"], ["x7", RED, "q", "a"]],
            "row 3: index 'x7' is not a whole number",
        ),
        (
            ["index", "image", "question", "answer"],
            [[1, RED, "q", "a"], [1, RED, "q", "a"]],
            "index 1 appears more than once",
        ),
    ],
)
def test_a_broken_file_is_named_with_its_row_or_column(tmp_path, header, rows, message):
    path = write_tsv(tmp_path / "broken.tsv", header, rows)
    with pytest.raises(UsageError) as caught:
        load_tsv(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_a_ragged_or_binary_file_is_not_a_readable_tsv(tmp_path):
    ragged = tmp_path / "ragged.tsv"
    ragged.write_text("index\tquestion\tanswer\n1\tq\ta\n2\tq\ta\textra\tmore\n")
    with pytest.raises(UsageError, match=r"ragged\.tsv: not a readable TSV"):
        load_tsv(ragged)
    binary = tmp_path / "binary.tsv"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 100)
    with pytest.raises(UsageError, match=r"binary\.tsv: not a readable TSV"):
        load_tsv(binary)


def test_a_file_named_like_a_benchmark_takes_its_kind_not_the_one_its_answers_suggest(
    tmp_path, caplog
):
    # VLMEvalKit picks the dataset class by name: POPE.tsv is Y/N whatever its answers
    path = write_tsv(
        tmp_path / "POPE.tsv",
        ["index", "image", "question", "answer", "category"],
        [[1, RED, "Is there a cat?", "Yes", "random"], [2, RED, "What is it?", "cat", "random"]],
    )
    dataset = load_tsv(path, "POPE")
    assert (dataset.kind, dataset.prompt_style, dataset.metric) == ("yorn", "question", "pope_f1")
    assert dataset.fits == "vqa"
    assert [r.getMessage() for r in caplog.records] == [
        f"vlmeval: warning: {path}: its answers are not all Yes/No and it has no option "
        "columns, so it fits vqa, but it is scored as yorn (the kind of POPE, the benchmark it "
        "is named after); a file that is not POPE needs another name"
    ]


def test_a_given_kind_the_answers_do_not_fit_is_one_warning_and_no_warning_when_it_fits(
    tmp_path, caplog
):
    path = write_tsv(
        tmp_path / "b.tsv",
        ["index", "image", "question", "A", "B", "answer"],
        [[1, RED, "Is it red?", "Yes", "No", "A"]],
    )
    load_tsv(path, "b", "mcq")
    load_tsv(path, "b")
    assert caplog.records == []
    yes_no = write_tsv(
        tmp_path / "c.tsv", ["index", "image", "question", "answer"], [[1, RED, "red?", "Yes"]]
    )
    assert load_tsv(yes_no, "c", "vqa", warn=False).kind == "vqa"
    assert caplog.records == []
    load_tsv(yes_no, "c", "vqa")
    assert [r.getMessage() for r in caplog.records] == [
        f"vlmeval: warning: {yes_no}: every answer is Yes or No, so it fits yorn, but it is "
        f"scored as vqa (the :kind given); pass -d {yes_no}:yorn if yorn is meant"
    ]
