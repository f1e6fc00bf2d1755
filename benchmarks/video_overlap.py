"""How long the model waits for a video dataset's frames, with decoding overlapped and in line.

    python benchmarks/video_overlap.py            # tiny-vlm on ShapesVideo, 8 frames, CPU

Both modes run in one process on the same items, alternating, ``--repeats`` times each
after a warm-up: ``vlmeval_core.inference.run_batches`` with the next batch decoded (by
the decode threads) and encoded while the model generates, and in line (decode, encode,
generate, one after the other). Reported per mode (medians): items/s, and the share of
wall time the model waited for its inputs (``ShardStats.input_wait_s`` / wall). The
frame cache is off, so every run decodes. The load average before and after is
recorded, since other jobs on the host take cores from both. Results go to
``benchmarks/results/video_overlap-<device>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from vlmeval_core.datasets import shapes_video
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.files import write_atomic
from vlmeval_core.inference import DECODE_WORKERS, BatchRunner, batches, run_batches
from vlmeval_core.models.hf import VisionLanguageModel
from vlmeval_core.models.registry import TINY_VLM_DIR
from vlmeval_core.run_plan import ModelSpec
from vlmeval_core.video.sampling import FrameSpec

RESULTS = Path(__file__).resolve().parent / "results"


class Discard:
    """A checkpoint store that keeps nothing: the bench measures, it does not score."""

    def append(self, answers: Any) -> None:
        del answers


def one_run(model: VisionLanguageModel, dataset: Any, batch_size: int, overlap: bool) -> dict:
    with ThreadPoolExecutor(DECODE_WORKERS, thread_name_prefix="decode") as decoders:
        runner = BatchRunner(model, 8, batch_size, decoders=decoders if overlap else None)
        chunks = list(batches(list(range(len(dataset))), batch_size))
        started = time.perf_counter()
        run_batches(runner, dataset, chunks, Discard(), overlap)  # type: ignore[arg-type]
        wall = time.perf_counter() - started
    return {
        "items_per_s": len(dataset) / wall,
        "wait_share": runner.stats.input_wait_s / wall,
        "wall_s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=TINY_VLM_DIR)
    parser.add_argument("--nframe", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    load_before = os.getloadavg()
    spec = ModelSpec("bench", "local", str(args.model), max_new_tokens=8)
    model = VisionLanguageModel(spec, args.device)
    with tempfile.TemporaryDirectory() as scratch:
        tsv = shapes_video.ensure(Path(scratch))
        dataset = load_tsv(tsv, "ShapesVideo", video=True, frames=FrameSpec(nframe=args.nframe))
        one_run(model, dataset, args.batch_size, overlap=True)  # warm-up
        runs: dict[str, list[dict]] = {"in line": [], "overlapped": []}
        for _ in range(args.repeats):
            for mode, overlap in (("in line", False), ("overlapped", True)):
                runs[mode].append(one_run(model, dataset, args.batch_size, overlap))
    rows = {
        mode: {key: round(statistics.median(r[key] for r in found), 4) for key in found[0]}
        for mode, found in runs.items()
    }
    report = {
        "setup": f"{args.model.name} on ShapesVideo ({len(dataset)} items, nframe "
        f"{args.nframe}, batch {args.batch_size}, {DECODE_WORKERS} decode threads)",
        "device": args.device,
        "host": platform.node(),
        "cpus": len(os.sched_getaffinity(0)),
        "torch": torch.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "repeats": args.repeats,
        "modes": rows,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"video_overlap-{args.device}"
    write_atomic(stem.with_suffix(".json"), json.dumps(report, indent=1) + "\n")
    lines = [
        f"# Video decoding overlap: {report['setup']}",
        "",
        f"{report['device']}, {report['cpus']} CPUs, {report['date']}; load average "
        f"{report['load_average_before']} before, {report['load_average_after']} after; "
        f"medians of {args.repeats} runs each.",
        "",
        "| mode | items/s | model waited for frames (share of wall time) | wall s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for mode, row in rows.items():
        lines.append(
            f"| {mode} | {row['items_per_s']:.1f} | {100 * row['wait_share']:.1f}% | "
            f"{row['wall_s']:.2f} |"
        )
    write_atomic(stem.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
