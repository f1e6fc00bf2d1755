"""Images as VLMEvalKit main feeds them (issue 10, point 3).

Main's ``ImageBaseDataset.dump_image`` (vlmeval/dataset/image_base.py, e8e78f05)
decodes a row's base64 image, makes RGBA, P and LA images RGB
(``decode_base64_to_image``) and saves it under the row's ``image_path`` name, or
``<index>.png`` (``<index>_<i>.png`` for several); Pillow picks the format from
that name, so a ``.jpg`` is a JPEG at Pillow's default quality. The model then
reads that file. vlmeval does the same in memory; ``--images original`` decodes
the TSV's bytes.
"""

from __future__ import annotations

import base64
import io

import pandas as pd
import pytest
from PIL import Image

from vlmeval_core.datasets.tsv import ItemImageError, load_tsv

GRADIENT = Image.frombytes(
    "RGB",
    (32, 32),
    bytes((x * 7 + y * 3 + c * 50) % 256 for x in range(32) for y in range(32) for c in range(3)),
)


def encoded(image: Image.Image, image_format: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return base64.b64encode(buffer.getvalue()).decode()


def saved_as(image: Image.Image, image_format: str) -> Image.Image:
    """What VLMEvalKit main's ``image.save(path)`` then its model's read give."""
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def dataset(tmp_path, rows: list[dict]):
    path = tmp_path / "MyVQA.tsv"
    frame = pd.DataFrame([{"question": "Q?", "answer": "a", **row} for row in rows])
    frame.to_csv(path, sep="\t", index=False)
    return load_tsv(path, kind="vqa")


def pixels(image: Image.Image) -> bytes:
    return image.convert("RGB").tobytes()


def test_a_jpg_image_path_means_a_jpeg_re_encode(tmp_path):
    data = dataset(tmp_path, [{"index": 1, "image": encoded(GRADIENT), "image_path": "1.jpg"}])
    (fed,) = data.images(0)
    assert pixels(fed) == pixels(saved_as(GRADIENT, "JPEG"))
    assert pixels(fed) != pixels(GRADIENT)  # lossy, as in VLMEvalKit main
    (original,) = data.images(0, "original")
    assert pixels(original) == pixels(GRADIENT)
    assert data.image_origins(0) == ["MyVQA.tsv: index 1, image 1 of 1, re-encoded as 1.jpg"]
    assert data.image_origins(0, "original") == [
        "MyVQA.tsv: index 1, image 1 of 1, the TSV's bytes"
    ]


def test_without_image_path_the_image_is_saved_as_index_png(tmp_path):
    jpeg_in_tsv = encoded(GRADIENT, "JPEG")
    data = dataset(tmp_path, [{"index": 7, "image": jpeg_in_tsv}])
    (fed,) = data.images(0)
    decoded = Image.open(io.BytesIO(base64.b64decode(jpeg_in_tsv)))
    assert pixels(fed) == pixels(decoded)  # PNG is lossless: the TSV's JPEG pixels
    assert data.image_origins(0)[0].endswith("re-encoded as 7.png")


def test_rgba_p_and_la_images_are_made_rgb_before_saving(tmp_path):
    rgba = Image.new("RGBA", (8, 8), (200, 40, 40, 0))  # fully transparent red
    paletted = GRADIENT.convert("P")
    la = Image.new("LA", (8, 8), (90, 10))
    rows = [
        {"index": 1, "image": encoded(rgba), "image_path": "1.jpg"},
        {"index": 2, "image": encoded(paletted)},
        {"index": 3, "image": encoded(la)},
    ]
    data = dataset(tmp_path, rows)
    assert pixels(data.images(0)[0]) == pixels(saved_as(rgba.convert("RGB"), "JPEG"))
    assert pixels(data.images(1)[0]) == pixels(paletted.convert("RGB"))
    assert data.images(2)[0].getpixel((0, 0)) == (90, 90, 90)


def test_several_images_are_named_index_underscore_i(tmp_path):
    images = [encoded(GRADIENT), encoded(Image.new("RGB", (4, 4), (1, 2, 3)))]
    data = dataset(tmp_path, [{"index": 5, "image": str(images)}])
    assert [o.rsplit(" ", 1)[-1] for o in data.image_origins(0)] == ["5_0.png", "5_1.png"]
    assert data.images(0)[1].getpixel((0, 0)) == (1, 2, 3)


def test_nothing_is_written_beside_the_data(tmp_path):
    data = dataset(tmp_path, [{"index": 1, "image": encoded(GRADIENT), "image_path": "a/1.jpg"}])
    before = sorted(p.name for p in tmp_path.rglob("*"))
    data.images(0)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before == ["MyVQA.tsv"]


def test_a_name_pillow_cannot_write_fails_only_that_item(tmp_path):
    data = dataset(
        tmp_path,
        [
            {"index": 1, "image": encoded(GRADIENT), "image_path": "1.unknown"},
            {"index": 2, "image": encoded(GRADIENT), "image_path": "2.png"},
        ],
    )
    with pytest.raises(ItemImageError, match=r"MyVQA.tsv: index 1: image name '1.unknown'"):
        data.images(0)
    assert data.images(1)[0].size == (32, 32)
    assert data.images(0, "original")[0].size == (32, 32)


def test_an_image_file_named_by_image_path_alone_is_read_as_it_is(tmp_path):
    GRADIENT.save(tmp_path / "pic.jpg", quality=95)
    data = dataset(tmp_path, [{"index": 1, "image_path": "pic.jpg"}])
    expected = Image.open(tmp_path / "pic.jpg").convert("RGB")
    assert pixels(data.images(0)[0]) == pixels(expected) == pixels(data.images(0, "original")[0])
    assert data.image_origins(0) == [str(tmp_path / "pic.jpg")]


def test_a_cmyk_jpeg_fails_its_item_at_the_png_re_save_as_vlmevalkit_does(tmp_path):
    """VLMEvalKit's dump_image saves a CMYK JPEG (a mode it does not make RGB) as
    ``<index>.png``, which PNG cannot store: the item fails saying so, not "cannot be
    decoded"; ``--images original`` decodes it."""
    cmyk = encoded(GRADIENT.convert("CMYK"), "JPEG")
    with pytest.raises(OSError, match="cannot write mode CMYK as PNG"):
        Image.open(io.BytesIO(base64.b64decode(cmyk))).save(io.BytesIO(), format="PNG")
    data = dataset(tmp_path, [{"index": 7, "image": cmyk}])
    with pytest.raises(ItemImageError) as failed:
        data.images(0)
    assert "cannot be decoded" not in str(failed.value)
    assert "(CMYK) cannot be re-saved as 7.png, as VLMEvalKit's dump_image saves it" in str(
        failed.value
    )
    assert "--images original" in str(failed.value)
    (original,) = data.images(0, "original")
    assert original.mode == "RGB"
