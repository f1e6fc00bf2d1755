"""Entry of every rank: ``python -m vlmeval_core.worker PLAN.json`` (started by the supervisor).

For each dataset of the plan: each node's local rank 0 prepares the TSV while
the others wait; every rank predicts its shard with one model copy (built
once, lazily, inside ``world_size_unset``) and checkpoints it; then rank 0
merges by index, scores and writes the results (so the output volume is shared
by all nodes); all ranks meet again before the next dataset. Rank 0 writes the
summary and manifest last. The plan is the run's, shared by all nodes; the
data dir and GPU list are this node's (:class:`vlmeval_core.node.NodeSettings`,
from the environment its launcher set). Exit codes: 0 done, 2 bad input,
3 runtime failure, 130/143 interrupted (what finished is kept).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from vlmeval_core import distributed, failure, signals
from vlmeval_core.datasets.on_disk import dataset_path, ensure_on_disk
from vlmeval_core.datasets.tsv import Dataset, load_tsv
from vlmeval_core.errors import RuntimeFailure
from vlmeval_core.files import remove_leftover_temps
from vlmeval_core.inference import predict_shard, read_checkpoints, shard_positions
from vlmeval_core.node import NodeSettings
from vlmeval_core.prompt_families import FAMILIES
from vlmeval_core.run_end import exit_now
from vlmeval_core.run_plan import Plan, load_plan


def log(info: distributed.RankInfo, message: str) -> None:
    """One line on stderr in one write, so that the ranks' lines never interleave."""
    sys.stderr.write(f"[rank {info.rank}] {message}\n")
    sys.stderr.flush()


class LazyModel:
    """Builds the model when a dataset first has work; a finished, resumed run never loads it."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._model: Any = None
        self.load_s = 0.0

    @property
    def commit(self) -> str | None:
        return getattr(self._model, "commit", None)

    @property
    def server_models(self) -> Any:
        """An endpoint's ``/models`` answer (None: not asked, or none given)."""
        return getattr(self._model, "server_models", None)

    def __call__(self) -> Any:
        if self._model is None and self._plan.endpoint is not None:
            from vlmeval_core.endpoint.client import EndpointClient

            self._model = EndpointClient(self._plan.endpoint, self._plan.model.path)
        if self._model is None:
            from transformers.utils import logging as hf_logging

            from vlmeval_core.models.hf import VisionLanguageModel

            hf_logging.disable_progress_bar()  # one bar per rank while loading is noise
            started = time.perf_counter()
            self._model = VisionLanguageModel(self._plan.model, self._plan.device)
            self.load_s = round(time.perf_counter() - started, 3)
        return self._model


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
    """Rank 0: join every rank's predictions to the rows by index, score, write the results.

    A registered benchmark is scored with its metric (VLMEvalKit's rule for it),
    anything else by its kind.
    """
    from vlmeval_core.report import write_dataset_results
    from vlmeval_core.scoring import score_dataset

    done = read_checkpoints(dataset_dir, dataset.frame["index"], warn=False)  # warned at start
    frame = dataset.frame.drop(columns=[c for c in ("image",) if c in dataset.frame.columns])
    missing = [i for i in frame["index"] if i not in done]
    if missing:
        raise RuntimeFailure(
            f"{dataset.name}: {len(missing)} item(s) have no prediction after "
            f"every rank finished (first index {missing[0]}); rerun to resume"
        )
    frame = frame.assign(
        prediction=[done[i].get("prediction", "") for i in frame["index"]],
        error=[done[i].get("error") for i in frame["index"]],
    )
    result = score_dataset(dataset.kind, frame, dataset.metric, dataset.metric_options)
    write_dataset_results(plan.run_dir, plan.model.name, dataset.name, result)
    return result.scores


def run(plan: Plan, node: NodeSettings, info: distributed.RankInfo) -> None:
    from vlmeval_core.manifest import build_manifest
    from vlmeval_core.report import write_manifest, write_summary

    started = time.perf_counter()
    if info.is_main:
        remove_leftover_temps(plan.run_dir)
    model = LazyModel(plan)
    scores: dict[str, dict[str, Any]] = {}
    data_info: dict[str, dict[str, Any]] = {}
    wall: dict[str, float] = {}
    for i, ref in enumerate(plan.datasets):
        t0 = time.perf_counter()
        dataset = load_dataset(plan, node, info, i)
        dataset_dir = plan.run_dir / dataset.name
        positions = shard_positions(len(dataset), info)
        predict, width = predict_shard, plan.model.batch_size
        if plan.endpoint is not None:  # a server answers: requests in flight, not batches
            from vlmeval_core.endpoint.runner import predict_endpoint

            predict, width = predict_endpoint, plan.endpoint.concurrency
        stats = predict(
            dataset,
            dataset_dir,
            positions,
            info,
            model,
            width,
            plan.model.max_new_tokens,
            family=FAMILIES[plan.model.prompt_family],
            images=plan.model.images,
        )
        how = (
            f"up to {width} requests in flight"
            if plan.endpoint
            else f"batch size {stats.batch_size}"
        )
        log(
            info,
            f"{dataset.name}: predicted {stats.predicted}, resumed {stats.resumed}, "
            f"{stats.errors} item error(s), {how}, {stats.wall_s} s",
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
        wall["model_load"] = model.load_s
        wall["total"] = round(time.perf_counter() - started, 3)
        write_manifest(
            plan.run_dir,
            build_manifest(
                plan, node, info.world_size, model.commit, data_info, wall, model.server_models
            ),
        )
        log(info, f"results in {plan.run_dir}")


def main(argv: list[str] | None = None) -> int:
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


if __name__ == "__main__":
    exit_now(main())
