"""A run's datasets, one after another, in this process: what both entries run.

:func:`main` is the body of ``python -m vlmeval_core.worker PLAN.json`` (each rank,
started by the supervisor or torchrun) and of ``python -m vlmeval_core.endpoint
PLAN.json`` (an api run's one process, rank 0 of 1). For each dataset of the plan:
each node's local rank 0 prepares the TSV while the others wait; every rank
predicts its shard through the plan's backend (:mod:`vlmeval_core.backends`: one
model copy, built once, lazily, or the server's client) and checkpoints it; then
rank 0 merges by index and evaluates (:func:`vlmeval_core.evaluate.evaluate_dataset`:
scores and writes the results, so the output volume is shared by all nodes); all
ranks meet again before the next dataset. Rank 0 writes the summary and manifest
last, then the HTML report when ``--report`` asked for it (``VLMEVAL_REPORT``). The
plan is the run's, shared by all nodes; the data dir and GPU list are this node's
(:class:`vlmeval_core.node.NodeSettings`, from the environment its launcher set). Exit
codes: 0 done, 2 bad input, 3 runtime failure, 130/143 interrupted (what finished is kept).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

from vlmeval_core import distributed, failure, signals
from vlmeval_core.backends import load_backend, predict_missing
from vlmeval_core.checkpoints import SHARDS_DIR, read_checkpoints
from vlmeval_core.datasets.on_disk import dataset_path, ensure_on_disk
from vlmeval_core.datasets.tsv import Dataset, load_tsv
from vlmeval_core.errors import RuntimeFailure
from vlmeval_core.files import remove_leftover_temps
from vlmeval_core.inference import shard_positions
from vlmeval_core.node import NodeSettings
from vlmeval_core.report_page import report_wanted
from vlmeval_core.run_plan import Plan, load_plan


def log(info: distributed.RankInfo, message: str) -> None:
    """One line on stderr in one write, so that the ranks' lines never interleave."""
    sys.stderr.write(f"[rank {info.rank}] {message}\n")
    sys.stderr.flush()


def load_dataset(plan: Plan, node: NodeSettings, info: distributed.RankInfo, index: int) -> Dataset:
    """Each node's local rank 0 prepares dataset ``index`` (download, generate) while the
    other ranks wait; then every rank loads it.

    One preparer per node, not per run: nodes need not share a data volume. Where
    they do, both write the same bytes through a temp file and a rename.
    """
    ref = plan.datasets[index]
    data_dir, run_dir = Path(node.data_dir), plan.run_dir
    if info.local_rank == 0:
        ensure_on_disk(ref, data_dir, run_dir, plan.seed)
    distributed.barrier()
    path = dataset_path(ref, data_dir, run_dir, plan.seed)
    dataset = load_tsv(path, ref.name, ref.kind, warn=info.is_main)  # one warning per run
    if plan.limit is not None:
        dataset.frame = dataset.frame.iloc[: plan.limit].reset_index(drop=True)
    return dataset


def merge_and_score(plan: Plan, dataset: Dataset, dataset_dir: Path) -> dict[str, Any]:
    """Rank 0: every rank's predictions, from their checkpoints, evaluated; the scores.

    An item without a prediction once every rank finished is a RuntimeFailure: a rerun
    resumes and predicts it.
    """
    from vlmeval_core.evaluate import CARRIED, evaluate_dataset

    indices = dataset.frame["index"].tolist()
    done = read_checkpoints(dataset_dir, indices, warn=False)  # warned at start
    missing = [i for i in indices if i not in done]
    if missing:
        raise RuntimeFailure(
            f"{dataset.name}: {len(missing)} item(s) have no prediction after "
            f"every rank finished (first index {missing[0]}); rerun to resume"
        )
    predictions = pd.DataFrame(
        {
            "index": indices,
            "prediction": [done[i].get("prediction", "") for i in indices],
            **{column: [done[i].get(column) for i in indices] for column in CARRIED},
        }
    )
    origin = dataset_dir / SHARDS_DIR
    return evaluate_dataset(dataset, predictions, plan.run_dir, plan.model.name, origin).scores


def run(plan: Plan, node: NodeSettings, info: distributed.RankInfo) -> None:
    from vlmeval_core.manifest import build_manifest
    from vlmeval_core.report import write_manifest, write_summary

    started = time.perf_counter()
    if info.is_main:
        remove_leftover_temps(plan.run_dir)
    backend = load_backend(plan)
    scores: dict[str, dict[str, Any]] = {}
    data_info: dict[str, dict[str, Any]] = {}
    wall: dict[str, float] = {}
    for i, ref in enumerate(plan.datasets):
        t0 = time.perf_counter()
        dataset = load_dataset(plan, node, info, i)
        dataset_dir = plan.run_dir / dataset.name
        positions = shard_positions(len(dataset), info)
        stats = predict_missing(backend, dataset, dataset_dir, positions, info)
        log(
            info,
            f"{dataset.name}: predicted {stats.predicted}, resumed {stats.resumed}, "
            f"{stats.errors} item error(s), {backend.width(stats)}, {stats.wall_s} s",
        )
        distributed.barrier()
        if info.is_main:
            scores[dataset.name] = merge_and_score(plan, dataset, dataset_dir)
            data_info[dataset.name] = {
                "path": str(dataset.path),
                "md5": dataset.md5,
                "kind": dataset.kind,
                "n": len(dataset),
                "batch_size_used_rank0": stats.batch_size,
            }
            wall[dataset.name] = round(time.perf_counter() - t0, 3)
            log(
                info,
                f"{ref.name}: {scores[dataset.name]['metric']} "
                f"{scores[dataset.name]['overall']:.4f} on {len(dataset)} items",
            )
        distributed.barrier()
    if info.is_main:
        write_summary(plan.run_dir, plan.model.name, plan.run_name, scores)
        wall["model_load"] = backend.load_s
        wall["total"] = round(time.perf_counter() - started, 3)
        write_manifest(
            plan.run_dir,
            build_manifest(
                plan, node, info.world_size, backend.commit, data_info, wall, backend.server_models
            ),
        )
        log(info, f"results in {plan.run_dir}")
        if report_wanted():
            from vlmeval_core.report_page.page import write_report

            log(info, f"report in {write_report([plan.run_dir])}")


def main(argv: list[str] | None = None) -> int:
    """Run the plan ``argv`` names (default: this process's arguments); the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m vlmeval_core.worker PLAN.json", file=sys.stderr)
        return 2
    signals.install()
    info = distributed.RankInfo(0, 1, 0, 1)
    plan: Plan | None = None
    node: NodeSettings | None = None
    try:
        info = distributed.rank_info()
        plan = load_plan(argv[0])
        node = NodeSettings.from_env()
        if plan.device == "cuda":
            distributed.claim_gpus(info, plan.model.gpus_per_model, node.gpu_dicts())
        distributed.init_process_group(info)
        try:
            run(plan, node, info)
        finally:
            distributed.destroy_process_group()
    except Exception as exc:
        volumes = [str(plan.run_dir)] if plan is not None else []
        volumes += [node.data_dir] if node is not None else []
        found = failure.fail(exc, info.rank, plan.run_dir if plan else None, volumes)
        if not failure.wrapped():  # under a supervisor of ours, the supervisor prints it
            failure.print_line(found)
        return found.exit_code
    return 0
