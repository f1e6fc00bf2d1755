"""An unreadable image in an ``--api-base`` run fails only its own item: the other items are
sent and answered, the run exits 0, and the bad item's error names the file, its index and
why; nothing is sent to the server for it. Through ``vlmeval eval`` against a local server,
as a user runs it."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from PIL import Image

from endpoint_runs import endpoint_eval
from misbehaving_server import MisbehavingServer


def png_base64(colour: tuple[int, int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (24, 24), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


NOT_AN_IMAGE = base64.b64encode(b"these bytes are no picture at all " * 8).decode()


def mcq_table(path: Path) -> Path:
    """Three items; the image of index 1 is base64 of bytes no image format reads."""
    rows = [
        ("index", "image", "question", "A", "B", "answer"),
        ("0", png_base64((255, 0, 0)), "What colour is it?", "red", "blue", "A"),
        ("1", NOT_AN_IMAGE, "What colour is it?", "red", "blue", "A"),
        ("2", png_base64((0, 0, 255)), "What colour is it?", "red", "blue", "B"),
    ]
    path.write_text("".join("\t".join(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_an_unreadable_image_fails_only_its_item_and_the_run_finishes(tmp_path):
    table = mcq_table(tmp_path / "Colours.tsv")
    with MisbehavingServer(answer="A") as server:
        done = endpoint_eval(
            tmp_path, server.base_url, "--api-concurrency", "1", data=f"{table}:mcq"
        )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr

    run_dir = tmp_path / "out" / "fake-vlm" / "r"
    lines = (run_dir / "Colours" / "predictions.jsonl").read_text(encoding="utf-8")
    records = {r["index"]: r for r in map(json.loads, lines.splitlines())}
    assert sorted(records) == [0, 1, 2], "every item has its record"
    bad = records[1]
    assert bad["prediction"] == "" and not bad["correct"]
    assert bad["error"].startswith("Colours.tsv: index 1: image cannot be decoded"), bad["error"]
    assert records[0]["error"] is None and records[0]["prediction"] == "A"
    assert records[2]["error"] is None and records[2]["prediction"] == "A"
    assert len(server.completions()) == 2, "the bad item is never sent"

    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert summary["datasets"]["Colours"]["errors"] == 1
    assert summary["datasets"]["Colours"]["n"] == 3
