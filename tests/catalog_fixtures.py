"""Helpers of the catalog tests: small TSVs in each benchmark's VLMEvalKit layout, a real
HTTP server on 127.0.0.1, and scoring through the worker's own merge step.

The layouts follow the columns VLMEvalKit's dataset classes read for each benchmark
(``vlmeval/dataset/image_mcq.py``, ``image_yorn.py``, ``image_vqa.py`` and their
``utils``); the images are real PNGs, base64-encoded as in the published files.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

from conftest import make_plan
from vlmeval_core.datasets.download import env_key
from vlmeval_core.datasets.registry import DATASETS
from vlmeval_core.datasets.tsv import load_tsv

# --------------------------------------------------------------------------- images


def png_b64(color: tuple[int, int, int] = (200, 40, 40), size: int = 28) -> str:
    """A real PNG (a square with a darker centre), base64 as VLMEvalKit TSVs carry images."""
    image = Image.new("RGB", (size, size), color)
    inner = tuple(c // 2 for c in color)
    for x in range(size // 4, 3 * size // 4):
        for y in range(size // 4, 3 * size // 4):
            image.putpixel((x, y), inner)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


RED, GREEN, BLUE = png_b64((200, 40, 40)), png_b64((40, 170, 60)), png_b64((40, 80, 220))


def tsv_bytes(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(sep="\t", index=False, lineterminator="\n").encode("utf-8")


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# --------------------------------------------------------------------------- layouts


def mmbench(name: str = "MMBench_DEV_EN") -> pd.DataFrame:
    """MMBench: hint, A-D, category, l2-category, split; rotations at index + 1e6 whose
    ``image`` is the main row's index (VLMEvalKit's image reference)."""
    q0 = ("What colour is the square?", "red", "green", "blue", "black", "A")
    q1 = ("Which shape is shown?", "square", "circle", "star", "line", "A")
    rows = []
    for rotation in range(2):
        for qid, (question, *options, _) in enumerate((q0, q1)):
            rolled = options[rotation:] + options[:rotation]
            answer = "ABCD"[rolled.index(options[0])]
            index = qid + rotation * 1_000_000
            rows.append(
                {
                    "index": index,
                    "question": question,
                    "hint": "Look at the image." if qid == 0 else None,
                    "A": rolled[0],
                    "B": rolled[1],
                    "C": rolled[2],
                    "D": rolled[3],
                    "answer": answer,
                    "category": "attribute_recognition" if qid == 0 else "object_localization",
                    "image": (RED if qid == 0 else GREEN) if rotation == 0 else str(qid),
                    "source": "synthetic",
                    "l2-category": "finegrained_perception (instance-level)"
                    if qid == 0
                    else "coarse_perception",
                    "comment": None,
                    "split": "dev",
                }
            )
    return pd.DataFrame(rows)


def plain_mcq(name: str) -> pd.DataFrame:
    """MMStar, SEEDBench_IMG, AI2D_TEST, RealWorldQA, A-OKVQA: question, options, answer,
    image, and category columns where the benchmark has them."""
    rows = [
        {"index": 0, "question": "What colour is the square?", "A": "red", "B": "green",
         "C": "blue", "D": "black", "answer": "A", "image": RED},
        {"index": 1, "question": "What colour is the square?", "A": "red", "B": "green",
         "C": "blue", "D": "black", "answer": "B", "image": GREEN},
        {"index": 2, "question": "What colour is the square?", "A": "red", "B": "green",
         "C": "blue", "D": None, "answer": "C", "image": BLUE},
        {"index": 3, "question": "Is the centre darker?", "A": "yes", "B": "no",
         "C": None, "D": None, "answer": "A", "image": RED},
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    if name in ("MMStar", "SEEDBench_IMG"):
        frame["category"] = ["coarse perception", "coarse perception", "fine-grained", "logic"]
    if name == "MMStar":
        frame["l2-category"] = ["image style", "image style", "attribute", "reasoning"]
    return frame


def scienceqa(name: str = "ScienceQA_VAL") -> pd.DataFrame:
    """ScienceQA: hint, up to five options, category, and one row without an image
    (VLMEvalKit leaves such rows out)."""
    rows = [
        {"index": 10, "question": "Which colour is shown?", "hint": "A coloured square.",
         "A": "red", "B": "green", "C": None, "answer": "A", "category": "colors", "image": RED},
        {"index": 11, "question": "Which colour is shown?", "hint": None, "A": "red",
         "B": "green", "C": "blue", "answer": "C", "category": "colors", "image": BLUE},
        {"index": 12, "question": "Which word is a noun?", "hint": None, "A": "run",
         "B": "table", "C": None, "answer": "B", "category": "grammar", "image": None},
        {"index": 13, "question": "Which shape is shown?", "hint": None, "A": "square",
         "B": "circle", "C": None, "answer": "A", "category": "shapes", "image": GREEN},
    ]  # fmt: skip
    return pd.DataFrame(rows)


def mmmu(name: str = "MMMU_DEV_VAL") -> pd.DataFrame:
    """MMMU: ``<image k>`` placeholders, several images as a Python list literal, open
    questions without options, category (subject) and split (dev / validation)."""
    two = repr([RED, GREEN])
    rows = [
        {"index": 1, "question": "<image 1> What colour is this?", "A": "red", "B": "green",
         "C": "blue", "D": None, "answer": "A", "category": "Art", "split": "dev", "image": RED},
        {"index": 2, "question": "Compare <image 1> and <image 2>: which is green?",
         "A": "the first", "B": "the second", "C": None, "D": None, "answer": "B",
         "category": "Art", "split": "validation", "image": two},
        {"index": 3, "question": "How many sides has the shape in <image 1>?", "A": None,
         "B": None, "C": None, "D": None, "answer": "4", "category": "Math",
         "split": "validation", "image": BLUE},
        {"index": 4, "question": "What colour is <image 1>?", "A": "red", "B": "blue",
         "C": "green", "D": "white", "answer": "C", "category": "Math",
         "split": "validation", "image": GREEN},
    ]  # fmt: skip
    return pd.DataFrame(rows)


def mme(name: str = "MME") -> pd.DataFrame:
    """MME: two questions per image (Yes, then No), category, image_path."""
    suffix = " Please answer yes or no."
    rows = []
    images = [("color", "color/1.png", RED, "red"), ("color", "color/2.png", GREEN, "green"),
              ("code_reasoning", "code_reasoning/1.png", BLUE, "blue")]  # fmt: skip
    for i, (category, image_path, image, colour) in enumerate(images):
        for j, (word, answer) in enumerate(((colour, "Yes"), ("purple", "No"))):
            rows.append(
                {
                    "index": 2 * i + j,
                    "image": image if j == 0 else str(2 * i),
                    "question": f"Is the square {word}?{suffix}",
                    "answer": answer,
                    "category": category,
                    "image_path": image_path,
                }
            )
    return pd.DataFrame(rows)


def pope(name: str = "POPE") -> pd.DataFrame:
    """POPE: Yes/No answers and the splits in ``category`` (comma-separated when shared)."""
    rows = [
        {"index": 0, "question": "Is there a square in the image?", "answer": "Yes",
         "category": "random,popular", "image": RED},
        {"index": 1, "question": "Is there a dog in the image?", "answer": "No",
         "category": "random", "image": RED},
        {"index": 2, "question": "Is there a cat in the image?", "answer": "No",
         "category": "adversarial", "image": GREEN},
        {"index": 3, "question": "Is there a square in the image?", "answer": "Yes",
         "category": "adversarial", "image": GREEN},
    ]  # fmt: skip
    return pd.DataFrame(rows)


def hallusion(name: str = "HallusionBench") -> pd.DataFrame:
    """HallusionBench: a text index <cat>_<subcat>_<visual>_<set>_<figure>_<question>,
    category (VD / VS) and l2-category (the subcategory)."""
    rows = [
        {"index": "VD_chart_1_0_0_0", "image": RED, "question": "Is the square red?",
         "answer": "Yes", "category": "VD", "l2-category": "chart"},
        {"index": "VD_chart_1_0_1_0", "image": GREEN, "question": "Is the square red?",
         "answer": "No", "category": "VD", "l2-category": "chart"},
        {"index": "VD_chart_1_0_0_1", "image": "VD_chart_1_0_0_0",
         "question": "Is the square blue?", "answer": "No", "category": "VD",
         "l2-category": "chart"},
        {"index": "VS_table_0_3_0_0", "image": BLUE, "question": "Is the table empty?",
         "answer": "Yes", "category": "VS", "l2-category": "table"},
    ]  # fmt: skip
    return pd.DataFrame(rows)


def textvqa(name: str = "TextVQA_VAL") -> pd.DataFrame:
    """TextVQA: ten human answers as a Python list literal."""
    answers = [
        ["red"] * 10,
        ["green"] * 2 + ["dark green"] * 8,
        ["two"] * 4 + ["2"] * 4 + ["a pair"] * 2,
    ]
    return pd.DataFrame(
        {
            "index": [0, 1, 2],
            "image": [RED, GREEN, BLUE],
            "question": ["What colour?", "What colour?", "How many squares?"],
            "answer": [repr(a) for a in answers],
        }
    )


def docvqa(name: str = "DocVQA_VAL") -> pd.DataFrame:
    """DocVQA / InfoVQA: answers as a Python list literal."""
    return pd.DataFrame(
        {
            "index": [0, 1, 2],
            "image": [RED, GREEN, BLUE],
            "question": ["What is the title?", "What is the date?", "Who signed?"],
            "answer": [
                repr(["Annual Report"]),
                repr(["1 May 2020", "May 1, 2020"]),
                repr(["J. Smith"]),
            ],
        }
    )


def chartqa(name: str = "ChartQA_TEST") -> pd.DataFrame:
    """ChartQA: one answer per question, numbers or words."""
    return pd.DataFrame(
        {
            "index": [0, 1, 2, 3],
            "image": [RED, GREEN, BLUE, RED],
            "question": [
                "Highest value?",
                "Share of red?",
                "Which colour is largest?",
                "Lowest value?",
            ],
            "answer": ["100", "25%", "Red", "0"],
        }
    )


def ocrbench(name: str = "OCRBench") -> pd.DataFrame:
    """OCRBench: answers as a Python list literal, category (one of its ten)."""
    return pd.DataFrame(
        {
            "index": [0, 1, 2, 3],
            "image": [RED, GREEN, BLUE, RED],
            "question": [
                "What is written?",
                "What is written?",
                "What is the formula?",
                "What is the total?",
            ],
            "answer": [
                repr(["STOP"]),
                repr(["Exit 3", "exit three"]),
                repr(["x^2 + 1"]),
                repr(["12.50"]),
            ],
            "category": [
                "Regular Text Recognition",
                "Scene Text-centric VQA",
                "Handwritten Mathematical Expression Recognition",
                "Key Information Extraction",
            ],
        }
    )


LAYOUTS: dict[str, Callable[[str], pd.DataFrame]] = {
    "MMBench_DEV_EN": mmbench,
    "MMBench_DEV_CN": mmbench,
    "MMBench_DEV_EN_V11": mmbench,
    "MMBench_DEV_CN_V11": mmbench,
    "MMStar": plain_mcq,
    "SEEDBench_IMG": plain_mcq,
    "AI2D_TEST": plain_mcq,
    "ScienceQA_VAL": scienceqa,
    "ScienceQA_TEST": scienceqa,
    "RealWorldQA": plain_mcq,
    "MMMU_DEV_VAL": mmmu,
    "A-OKVQA": plain_mcq,
    "MME": mme,
    "POPE": pope,
    "HallusionBench": hallusion,
    "TextVQA_VAL": textvqa,
    "DocVQA_VAL": docvqa,
    "InfoVQA_VAL": docvqa,
    "ChartQA_TEST": chartqa,
    "OCRBench": ocrbench,
}
"""Every downloadable registered dataset -> a builder of a small TSV in its layout."""


def catalog_files() -> dict[str, bytes]:
    """``{"<name>.tsv": bytes}`` for every downloadable registered dataset."""
    return {DATASETS[n].file_name: tsv_bytes(build(n)) for n, build in LAYOUTS.items()}


def md5_overrides(files: dict[str, bytes]) -> dict[str, str]:
    """VLMEVAL_DATA_MD5_<NAME> for every served file whose dataset publishes an md5."""
    return {
        f"VLMEVAL_DATA_MD5_{env_key(e.name)}": md5_of(files[e.file_name])
        for e in DATASETS.values()
        if e.source == "download" and e.md5 is not None and e.file_name in files
    }


# --------------------------------------------------------------------------- HTTP server


class Server:
    """A real HTTP server on 127.0.0.1 whose routes misbehave on purpose.

    ``routes[path]`` is a list of behaviours, used one per request (the last one
    repeats): ``("ok", data)``, ``("truncated", data)`` (announces the full length,
    sends half, closes), ``("stop", data)`` (chunked, stops mid-stream without the
    last chunk), ``("status", code)``. Unknown paths get 404. ``hits`` counts requests.
    """

    def __init__(self) -> None:
        self.routes: dict[str, list[tuple[str, Any]]] = {}
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                count = server.hits.get(path, 0)
                server.hits[path] = count + 1
                behaviours = server.routes.get(path) or [("status", 404)]
                kind, payload = behaviours[min(count, len(behaviours) - 1)]
                if kind == "status":
                    self.send_response(payload)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/tab-separated-values")
                if kind == "stop":
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    half = payload[: len(payload) // 2]
                    self.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if kind == "truncated":
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def serve(self, path: str, *behaviours: tuple[str, Any]) -> str:
        self.routes[path] = list(behaviours)
        return self.url + path

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serving(files: dict[str, bytes], prefix: str = "/mirror") -> Iterator[Server]:
    """A server holding ``files`` (all "ok") under ``prefix``."""
    with Server() as server:
        for name, data in files.items():
            server.serve(f"{prefix}/{name}", ("ok", data))
        yield server


# --------------------------------------------------------------------------- scoring


def score_through_worker(
    tmp_path: Path, name: str, frame: pd.DataFrame, predictions: dict[Any, str]
) -> tuple[dict[str, Any], Path]:
    """Write ``frame`` as ``name``'s TSV, load it as a run would, put ``predictions``
    (by the file's index) in a rank checkpoint, and score it with the worker's merge step.
    Returns scores.json and the dataset's result directory."""
    from vlmeval_core.merge import merge_and_score

    path = tmp_path / "data" / DATASETS[name].file_name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tsv_bytes(frame))
    dataset = load_tsv(path, name, DATASETS[name].kind)
    plan = make_plan(tmp_path, [name])
    out = plan.run_dir / name
    key = "source_index" if "source_index" in dataset.frame.columns else "index"
    by_key = {
        str(k): int(i) for k, i in zip(dataset.frame[key], dataset.frame["index"], strict=True)
    }
    lines = [
        json.dumps({"index": by_key[str(k)], "prediction": text, "error": None})
        for k, text in predictions.items()
        if str(k) in by_key
    ]
    shards = out / ".shards"
    shards.mkdir(parents=True, exist_ok=True)
    (shards / "rank-0.jsonl").write_text("".join(line + "\n" for line in lines))
    merge_and_score(plan, dataset, out)
    return json.loads((out / "scores.json").read_text()), out
