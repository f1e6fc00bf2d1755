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

from vlmeval_core import distributed, failure, signals
from vlmeval_core.backends import load_backend, predict_missing
from vlmeval_core.datasets.on_disk import ensure_on_disk
from vlmeval_core.datasets.tsv import Dataset
from vlmeval_core.files import remove_leftover_temps
from vlmeval_core.inference import shard_positions
from vlmeval_core.merge import merge_and_score, merge_ready, open_dataset, waiting_text
from vlmeval_core.node import NodeSettings
from vlmeval_core.report_page import report_wanted
from vlmeval_core.run_plan import Plan, load_plan
from vlmeval_core.shards import merge_lock, write_items


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
    if info.local_rank == 0:
        ensure_on_disk(plan.datasets[index], Path(node.data_dir), plan.run_dir, plan.seed)
    distributed.barrier()
    return open_dataset(plan, node.data_dir, index, warn=info.is_main)  # one warning per run


def run(plan: Plan, node: NodeSettings, info: distributed.RankInfo) -> None:
    """Every dataset of the plan, predicted by this launch's ranks (its shard of the items
    with ``--shard``), merged and scored, then the run's files (:func:`write_results`)."""
    started = time.perf_counter()
    if info.is_main:
        remove_leftover_temps(plan.run_dir)
    backend = load_backend(plan)
    sharded = plan.shards > 1
    scores: dict[str, dict[str, Any]] = {}
    data_info: dict[str, dict[str, Any]] = {}
    wall: dict[str, float] = {}
    for i in range(len(plan.datasets)):
        t0 = time.perf_counter()
        dataset = load_dataset(plan, node, info, i)
        dataset_dir = plan.run_dir / dataset.name
        if sharded and info.is_main:
            write_items(dataset_dir, dataset.frame["index"].tolist())
        positions = shard_positions(len(dataset), info, node.shard, plan.shards)
        stats = predict_missing(
            backend, dataset, dataset_dir, positions, info, shard=node.shard, shards=plan.shards
        )
        log(
            info,
            f"{dataset.name}: predicted {stats.predicted}, resumed {stats.resumed}, "
            f"{stats.errors} item error(s), {backend.width(stats)}, {stats.wall_s} s",
        )
        distributed.barrier()
        if info.is_main:
            data_info[dataset.name] = {
                "path": str(dataset.path),
                "md5": dataset.md5,
                "kind": dataset.kind,
                "n": len(dataset),
                "batch_size_used_rank0": stats.batch_size,
            }
            if not sharded:
                scores[dataset.name] = merge_and_score(plan, dataset, dataset_dir)
                wall[dataset.name] = round(time.perf_counter() - t0, 3)
                log(info, _scored_line(dataset.name, scores[dataset.name], len(dataset)))
        distributed.barrier()
    if not info.is_main:
        return
    if sharded:  # the shard that finds every item predicted scores the run
        with merge_lock(plan.run_dir):
            waiting = merge_ready(plan, node.data_dir, scores)
            if waiting:
                log(
                    info,
                    f"shard {node.shard}/{plan.shards} done; the run is scored when the "
                    f"others are ({waiting_text(waiting, plan.shards)}), or by hand with "
                    f"vlmeval merge {plan.run_dir}",
                )
                return
            for name, found in scores.items():
                log(info, _scored_line(name, found, found["n"]))
            write_results(plan, node, info, backend, scores, data_info, wall, started)
        return
    write_results(plan, node, info, backend, scores, data_info, wall, started)


def write_results(
    plan: Plan,
    node: NodeSettings,
    info: distributed.RankInfo,
    backend: Any,
    scores: dict[str, dict[str, Any]],
    data_info: dict[str, dict[str, Any]],
    wall: dict[str, float],
    started: float,
) -> None:
    """Rank 0, every dataset scored: the summary, the manifest, and the report if asked."""
    from vlmeval_core.manifest import build_manifest
    from vlmeval_core.report import write_manifest, write_summary
    from vlmeval_core.suites import leaderboard_line, write_leaderboard

    write_summary(plan.run_dir, plan.model.name, plan.run_name, scores)
    if plan.suite is not None:
        board = write_leaderboard(plan.run_dir, plan.suite, scores)
        log(info, leaderboard_line(board))
    wall["model_load"] = backend.load_s
    wall["total"] = round(time.perf_counter() - started, 3)
    write_manifest(
        plan.run_dir,
        build_manifest(
            plan,
            node,
            info.world_size,
            backend.commit,
            data_info,
            wall,
            backend.server_models,
            scores,
        ),
    )
    log(info, f"results in {plan.run_dir}")
    if report_wanted():
        from vlmeval_core.report_page.page import write_report

        log(info, f"report in {write_report([plan.run_dir])}")


def _scored_line(name: str, scores: dict[str, Any], n: int) -> str:
    return f"{name}: {scores['metric']} {scores['overall']:.4f} on {n} items"


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
