"""Throughput of the evaluator's inference path against VLMEvalKit's per-sample loop.

    python benchmarks/throughput.py --setup cpu     # tiny-vlm on ShapesMCQ
    python benchmarks/throughput.py --setup gpu     # Qwen2-VL-2B dimensions, random weights

Both paths run in the same process on the same items: the baseline calls
``generate()`` once per item (and empties the CUDA cache after each, as
VLMEvalKit does); the fast path is ``vlmeval_core.backends.predict_missing`` through
the transformers backend at batch sizes 1, 4, 16 and 32 (GPU: 8, 16 and 32, over 48
items, so that the whole setup, model build included, takes a few minutes of a lent
GPU's ten). After a warm-up, each configuration runs ``--repeats`` times and the
medians are reported: items/s, generated and prompt tokens/s, peak host RSS and GPU
memory, wall time, ratio to the baseline. The GPU setup also compares the decode rate
with the bound set by reading every weight once per decode step at the measured memory
bandwidth.
Results go to ``benchmarks/results/throughput-<device>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
import transformers

from vlmeval_core.backends import predict_missing
from vlmeval_core.datasets import shapes
from vlmeval_core.datasets.tsv import Dataset, load_tsv
from vlmeval_core.distributed import RankInfo
from vlmeval_core.files import write_atomic
from vlmeval_core.inference import Transformers
from vlmeval_core.models.hf import Generation, VisionLanguageModel
from vlmeval_core.models.registry import TINY_VLM_DIR
from vlmeval_core.prompt_families import FAMILIES, item_messages
from vlmeval_core.run_plan import ModelSpec

RESULTS = Path(__file__).resolve().parent / "results"
CONFIGS = Path(__file__).resolve().parent / "configs"
ONE_RANK = RankInfo(0, 1, 0, 1)


@dataclass
class Setup:
    """What is measured: a loaded model, a dataset, and how long each answer is."""

    name: str
    model: Any
    dataset: Dataset
    max_new_tokens: int
    description: dict[str, Any]
    weight_bytes: int = 0


@dataclass
class Measurement:
    wall_s: float
    items: int
    prompt_tokens: int
    generated_tokens: int
    peak_rss_mib: float
    peak_gpu_mib: float | None
    extra: dict[str, Any] = field(default_factory=dict)


class FixedLength:
    """Makes every answer exactly ``max_new_tokens`` long: random weights never stop early."""

    def __init__(self, model: VisionLanguageModel) -> None:
        self.model = model

    def encode(self, batch: Any) -> Any:
        return self.model.encode(batch)

    def generate_encoded(self, inputs: Any, max_new_tokens: int) -> Generation:
        return self.model.generate_encoded(inputs, max_new_tokens, min_new_tokens=max_new_tokens)


class RssSampler:
    """Peak resident memory of this process while a run is going (sampled every 10 ms)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while True:
            with open("/proc/self/statm") as handle:
                self.peak = max(self.peak, int(handle.read().split()[1]) * page)
            if self._stop.wait(0.01):
                return


def measure(run: Callable[[], tuple[int, int, int]], device: str) -> Measurement:
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    with RssSampler() as rss:
        started = time.perf_counter()
        items, prompt_tokens, generated_tokens = run()
        if device == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - started
    gpu = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    return Measurement(wall, items, prompt_tokens, generated_tokens, rss.peak / 2**20, gpu)


def per_sample(setup: Setup, positions: list[int], device: str) -> tuple[int, int, int]:
    """VLMEvalKit's loop: decode one item, one generate() call, empty the CUDA cache."""
    prompt_tokens = generated_tokens = 0
    for position in positions:
        images = setup.dataset.images(position)
        item = item_messages(FAMILIES["dataset"], setup.dataset, position, images)
        generation = setup.model.generate_encoded(setup.model.encode([item]), setup.max_new_tokens)
        prompt_tokens += generation.prompt_tokens
        generated_tokens += generation.generated_tokens
        if device == "cuda":
            torch.cuda.empty_cache()
    return len(positions), prompt_tokens, generated_tokens


def batched(
    setup: Setup, positions: list[int], batch_size: int, scratch: Path
) -> tuple[int, int, int]:
    """The evaluator's own path, checkpoints included, into a fresh directory."""
    directory = Path(tempfile.mkdtemp(dir=scratch))
    stats = predict_missing(
        Transformers(lambda: setup.model, batch_size, setup.max_new_tokens),
        setup.dataset,
        directory,
        positions,
        ONE_RANK,
        show_progress=False,  # no bar inside a timed run
    )
    return stats.predicted, stats.prompt_tokens, stats.generated_tokens


def cpu_setup(workdir: Path, items: int) -> Setup:
    model = VisionLanguageModel(ModelSpec("tiny-vlm", "bundled", str(TINY_VLM_DIR)), "cpu")
    dataset = load_tsv(shapes.write_tsv("ShapesMCQ", workdir), "ShapesMCQ")
    dataset.frame = dataset.frame.iloc[:items].reset_index(drop=True)
    return Setup(
        "cpu",
        model,
        dataset,
        8,
        {
            "model": "tiny-vlm (bundled)",
            "dataset": f"ShapesMCQ, {items} items, 56x56",
            "dtype": "float32",
            "max_new_tokens": "8 (stops at EOS)",
        },
    )


def build_random_qwen2_vl(config_path: Path, directory: Path) -> Path:
    """Save a random-initialised Qwen2-VL of ``config_path``'s dimensions with a processor.

    The processor is tiny-vlm's (its tokenizer and chat template) with the image
    pixel bounds of the configuration. Logits of ids the tokenizer lacks are
    zeroed so that greedy tokens decode; the compute is the full model's.
    """
    from transformers import (
        AutoProcessor,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
    )

    spec = json.loads(config_path.read_text())
    processor = AutoProcessor.from_pretrained(TINY_VLM_DIR)
    processor.image_processor.size = {
        "shortest_edge": spec["image_pixels"]["min"],
        "longest_edge": spec["image_pixels"]["max"],
    }
    tokenizer = processor.tokenizer
    ids = {
        t: tokenizer.convert_tokens_to_ids(t)
        for t in (
            "<|endoftext|>",
            "<|im_end|>",
            "<|image_pad|>",
            "<|video_pad|>",
            "<|vision_start|>",
            "<|vision_end|>",
        )
    }
    text = dict(
        spec["text_config"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    config = Qwen2VLConfig(
        text_config=text,
        vision_config=spec["vision_config"],
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=spec["tie_word_embeddings"],
    )
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(config).to(torch.bfloat16)
    with torch.no_grad():
        model.get_output_embeddings().weight[len(tokenizer) :] = 0
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


def gpu_setup(
    workdir: Path, items: int, config_path: Path, device: str, image_size: int, max_new_tokens: int
) -> Setup:
    directory = build_random_qwen2_vl(config_path, workdir / "model")
    model = VisionLanguageModel(
        ModelSpec(
            config_path.stem,
            "local",
            str(directory),
            dtype="bfloat16" if device == "cuda" else "float32",
        ),
        device,
    )
    frame = shapes.generate("ShapesVQA", n=items, image_size=image_size)
    path = workdir / "ShapesVQA_large.tsv"
    frame.to_csv(path, sep="\t", index=False)
    dataset = load_tsv(path, "ShapesVQA")
    text_weights = sum(
        p.numel() * p.element_size()
        for name, p in model.model.named_parameters()
        if "visual" not in name
    )
    return Setup(
        "gpu",
        FixedLength(model),
        dataset,
        max_new_tokens,
        {
            "model": f"{config_path.name}, random weights",
            "attention": model.model.config._attn_implementation,
            "dataset": f"ShapesVQA, {items} items, {image_size}x{image_size}",
            "dtype": str(model.dtype).removeprefix("torch."),
            "max_new_tokens": f"{max_new_tokens} (EOS disabled: every answer is this long)",
        },
        weight_bytes=text_weights,
    )


def memory_bandwidth_gbs(device: str) -> float:
    """Device memory bandwidth from a large copy (bytes read + written per second)."""
    size = 1 << 30
    source = torch.empty(size, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    for _ in range(3):
        target.copy_(source)
    if device == "cuda":
        torch.cuda.synchronize()
    started, repeats = time.perf_counter(), 20
    for _ in range(repeats):
        target.copy_(source)
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * size * repeats / (time.perf_counter() - started) / 1e9


def row(label: str, batch_size: int, runs: list[Measurement]) -> dict[str, Any]:
    wall = statistics.median(r.wall_s for r in runs)
    first = runs[0]
    return {
        "path": label,
        "batch_size": batch_size,
        "wall_s": round(wall, 3),
        "items_per_s": round(first.items / wall, 2),
        "generated_tokens_per_s": round(
            statistics.median(r.generated_tokens / r.wall_s for r in runs), 1
        ),
        "prompt_tokens_per_s": round(
            statistics.median(r.prompt_tokens / r.wall_s for r in runs), 1
        ),
        "generated_tokens": first.generated_tokens,
        "peak_rss_mib": round(max(r.peak_rss_mib for r in runs), 1),
        "peak_gpu_mib": None
        if first.peak_gpu_mib is None
        else round(max(r.peak_gpu_mib for r in runs), 1),
        "runs_wall_s": [round(r.wall_s, 3) for r in runs],
    }


def device_label(device: str) -> str:
    if device == "cuda":
        name = torch.cuda.get_device_name(0)
        return "gpu-" + re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return "cpu"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Throughput: {report['setup']} setup on {report['device']}",
        "",
        " · ".join(f"{k}: {v}" for k, v in report["description"].items()),
        "",
        " · ".join(f"{k}: {v}" for k, v in report["environment"].items()),
        "",
        f"Median of {report['repeats']} runs after a warm-up, {report['items']} items each.",
        "",
        "| path | batch | items/s | × per-sample | generated tok/s | prompt tok/s | "
        "wall s | peak RSS MiB | peak GPU MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        gpu = "—" if r["peak_gpu_mib"] is None else f"{r['peak_gpu_mib']:.0f}"
        lines.append(
            f"| {r['path']} | {r['batch_size']} | {r['items_per_s']:.2f} | "
            f"{r['speedup']:.2f} | {r['generated_tokens_per_s']:.0f} | "
            f"{r['prompt_tokens_per_s']:.0f} | {r['wall_s']:.2f} | "
            f"{r['peak_rss_mib']:.0f} | {gpu} |"
        )
    if "bandwidth" in report:
        b = report["bandwidth"]
        lines += [
            "",
            f"Memory bandwidth (measured copy): {b['measured_gbs']:.0f} GB/s; "
            f"text-model weights: {b['weight_bytes'] / 1e9:.2f} GB, so at most "
            f"{b['decode_steps_per_s_bound']:.0f} decode steps/s. Generated tokens/s "
            "as a fraction of batch × that bound (a lower bound on decode "
            "efficiency, since prefill time is included):",
            "",
        ]
        lines += [
            f"- batch {r['batch_size']}: {r['fraction_of_bandwidth_bound']:.1%}"
            for r in report["results"]
            if "fraction_of_bandwidth_bound" in r
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--setup", choices=("cpu", "gpu"), required=True)
    parser.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        default=None,
        help="default: cuda for the gpu setup, cpu for the cpu setup",
    )
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", default=None, help="cpu: 1 4 16 32, gpu: 8 16 32"
    )
    parser.add_argument("--repeats", type=int, default=None, help="cpu: 5, gpu: 2")
    parser.add_argument("--items", type=int, default=None, help="items per run (cpu: 240, gpu: 48)")
    parser.add_argument("--config", type=Path, default=CONFIGS / "qwen2-vl-2b-instruct.json")
    parser.add_argument("--image-size", type=int, default=448)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    device = args.device or ("cuda" if args.setup == "gpu" else "cpu")
    cpu = args.setup == "cpu"
    args.repeats = args.repeats or (5 if cpu else 2)
    args.batch_sizes = args.batch_sizes or ([1, 4, 16, 32] if cpu else [8, 16, 32])
    transformers.utils.logging.disable_progress_bar()
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("the gpu setup needs a CUDA GPU: none is visible")

    scratch = Path(tempfile.mkdtemp(prefix="vlmeval-bench-"))
    if cpu:
        setup = cpu_setup(scratch, args.items or 240)
    else:
        setup = gpu_setup(
            scratch, args.items or 48, args.config, device, args.image_size, args.max_new_tokens
        )
    positions = list(range(len(setup.dataset)))
    warm = positions[: max(args.batch_sizes)]
    per_sample(setup, warm[:4], device)
    batched(setup, warm, max(args.batch_sizes), scratch)

    results = [
        row(
            "per-sample",
            1,
            [
                measure(lambda: per_sample(setup, positions, device), device)
                for _ in range(args.repeats)
            ],
        )
    ]
    for size in args.batch_sizes:
        runs = [
            measure(lambda s=size: batched(setup, positions, s, scratch), device)
            for _ in range(args.repeats)
        ]
        results.append(row("batched", size, runs))
    baseline = results[0]["items_per_s"]
    for r in results:
        r["speedup"] = round(r["items_per_s"] / baseline, 2)

    report: dict[str, Any] = {
        "setup": args.setup,
        "device": device_label(device),
        "description": setup.description,
        "environment": {
            "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_before": round(os.getloadavg()[0], 2),
            "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        },
        "items": len(positions),
        "repeats": args.repeats,
        "results": results,
    }
    if setup.weight_bytes:
        bandwidth = memory_bandwidth_gbs(device)
        steps_bound = bandwidth * 1e9 / setup.weight_bytes
        report["bandwidth"] = {
            "measured_gbs": round(bandwidth, 1),
            "weight_bytes": setup.weight_bytes,
            "decode_steps_per_s_bound": round(steps_bound, 1),
        }
        for r in results:
            r["fraction_of_bandwidth_bound"] = round(
                r["generated_tokens_per_s"] / (r["batch_size"] * steps_bound), 4
            )
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"throughput-{report['device']}"
    write_atomic(stem.with_suffix(".json"), json.dumps(report, indent=2) + "\n")
    write_atomic(stem.with_suffix(".md"), markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
