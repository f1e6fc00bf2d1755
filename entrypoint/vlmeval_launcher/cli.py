"""The ``vlmeval`` click CLI: ``eval``, ``score``, ``compare``, ``report``, ``merge``, ``status``,
``slurm``, ``prompts``, ``gpus``, ``list``, ``doctor``, ``fetch``.

Every flag of ``eval`` is declared once, as a field of
:class:`vlmeval_launcher.eval_flags.EvalRequest`, and its click option is made
from that field (:func:`request_option`); each can also come from
``VLMEVAL_<FLAG>`` (``--gpus-per-model`` -> ``VLMEVAL_GPUS_PER_MODEL``), and a
flag given on the command line wins. Any
error ends the command with one line, ``vlmeval: error: <message>``, on stderr
and the exit code of docs/architecture.md (2 usage, 3 environment). Nothing here
imports torch or transformers at import time; only ``doctor`` does, when run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from vlmeval_core.errors import VlmevalError
from vlmeval_core.oserror import explain
from vlmeval_launcher import __version__
from vlmeval_launcher.eval_flags import ENV_PREFIX, EvalRequest, eval_flags
from vlmeval_launcher.slurm import REFUSED, SCRIPT_SETTINGS, SlurmRequest

PROG = "vlmeval"


def _envvar(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def _error(message: str) -> None:
    click.echo(f"{PROG}: error: {' '.join(message.split())}", err=True)


class VlmevalGroup(click.Group):
    """A click group that reports every error as one line with the project's exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VlmevalError as exc:
            _error(str(exc))
            ctx.exit(exc.exit_code)
        except OSError as exc:  # disk full, permission denied, read-only: one line, exit 3
            failure = explain(exc, _volumes(ctx))
            if failure is None:
                raise
            _error(str(failure))
            ctx.exit(failure.exit_code)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name or PROG, complete_var, False, **extra)
        try:
            rv = super().main(args, prog_name or PROG, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            message = exc.format_message()
            ctx = getattr(exc, "ctx", None)
            if isinstance(exc, click.UsageError) and ctx is not None:
                message += f" (see '{ctx.command_path} --help')"
            _error(message)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(f"{PROG}: interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


VOLUMES = "vlmeval.volumes"
"""ctx.meta key: the --output and --data-dir a command was given (to name a full disk)."""


def _volumes(ctx: click.Context) -> list[str]:
    return list(ctx.meta.get(VOLUMES, {}).values())


def _remember_volume(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Option callback: note a directory the command writes to, for :meth:`VlmevalGroup.invoke`."""
    if value:
        ctx.meta.setdefault(VOLUMES, {})[param.name] = os.path.expanduser(str(value))
    return value


@click.group(cls=VlmevalGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "-V", "--version", prog_name=PROG, message="%(prog)s %(version)s"
)
def main() -> None:
    """Evaluate vision-language models on VLMEvalKit benchmarks with every GPU of a host."""


def _option(*decls: str, **kwargs: Any) -> Any:
    """A click option whose value may also come from VLMEVAL_<FLAG>."""
    long = next(d for d in decls if d.startswith("--")).split("/")[0]
    envvar = kwargs.pop("envvar", _envvar(long.removeprefix("--")))
    return click.option(*decls, envvar=envvar, show_envvar=True, **kwargs)


_CLICK_TYPES = {str: click.STRING, int: click.INT, float: click.FLOAT}


def request_option(field: str, request: type = EvalRequest, **overrides: Any) -> Any:
    """The click option of ``vlmeval eval``'s flag ``field``, as EvalRequest declares it.

    Other commands that take the same flag pass their own ``help`` (the declared
    default, choices, metavar and variables stay), or ``envvar=None``.
    """
    spec = eval_flags(request)[field]
    decls = [f"{spec.long}/--no-{spec.long[2:]}" if spec.negatable else spec.long]
    if spec.flag.short:
        decls.append(spec.flag.short)
    help_text = overrides.pop("help", spec.flag.help)
    if spec.flag.default_text:
        help_text += f"  [default: {spec.flag.default_text}]"
    envvar = spec.envvars if len(spec.envvars) > 1 else spec.envvars[0]
    kwargs: dict[str, Any] = {
        "help": help_text,
        "metavar": spec.flag.metavar,
        "envvar": envvar,
        "show_envvar": True,
    }
    if spec.required:
        kwargs["required"] = True
    else:
        kwargs["default"] = spec.default
        kwargs["show_default"] = spec.default is not None and not spec.is_switch
    if spec.is_switch:
        kwargs["is_flag"] = True
    elif spec.choices:
        kwargs["type"] = click.Choice(spec.choices, case_sensitive=False)
    elif spec.kind is not bool:
        kwargs["type"] = _CLICK_TYPES[spec.kind]
    if spec.multiple:
        kwargs["multiple"] = True
    if spec.flag.volume:
        kwargs["callback"] = _remember_volume
    kwargs.update(overrides)
    if kwargs["envvar"] is None:
        kwargs["show_envvar"] = False
    return click.option(*decls, **kwargs)


def request_options(request: type = EvalRequest) -> Any:
    """A decorator: every field of ``request`` as an option of the command, in their order."""

    def decorate(command: Any) -> Any:
        for field in reversed(eval_flags(request)):
            command = request_option(field, request)(command)
        return command

    return decorate


def one_dataset_option() -> Any:
    """-d/--data naming one dataset, shared by score and prompts (eval's takes several)."""
    return click.option(
        "--data",
        "-d",
        required=True,
        metavar="DATA",
        help="Registered dataset name, or a .tsv path with an optional :mcq, :yorn or :vqa.",
    )


EVAL_EPILOG = """\b
Examples:
  vlmeval eval -m Qwen2-VL-2B-Instruct -d ShapesMCQ -d ShapesYN
  vlmeval eval -m tiny-vlm -d ShapesMCQ,ShapesYN --device cpu --nproc 2 --limit 40
  vlmeval eval -m Qwen/Qwen2-VL-7B-Instruct -d ShapesVQA --nproc 4 --gpus-per-model 2 --dry-run
\b
Results go to <output>/<model>/<run-name>/; rerun with the same --run-name to resume.
"""


@main.command("eval", epilog=EVAL_EPILOG)
@request_options()
def eval_command(**flags: Any) -> None:
    """Validate a run, claim its directory, write its plan and exec what starts the ranks."""
    from vlmeval_core import lifecycle
    from vlmeval_core.identity import run_identity
    from vlmeval_core.node import ENV_VARIABLE as NODE_VARIABLE
    from vlmeval_core.report_page import REPORT_VARIABLE
    from vlmeval_core.run_summary import QUIET_VARIABLE
    from vlmeval_core.run_verdict import ALLOW_FAILED_ITEMS_VARIABLE
    from vlmeval_launcher.exec_ranks import (
        build_argv,
        check_environment,
        exec_ranks,
        launch_environment,
    )
    from vlmeval_launcher.hub_reach import check_hub
    from vlmeval_launcher.launch import resolve_launch

    request = EvalRequest(**flags)
    launch = resolve_launch(request)
    argv = build_argv(launch)
    plan = launch.plan
    identity = run_identity(plan).to_dict()
    if request.dry_run:
        if not request.restart:
            lifecycle.check_resume(plan, identity)
        click.echo(json.dumps(plan.to_dict(), indent=2, ensure_ascii=False))
        click.echo(shlex.join(argv))
        click.echo(
            f"{PROG}: this node's settings, handed to its ranks, not in plan.json: "
            f"{launch.node.to_env()[NODE_VARIABLE]}",
            err=True,
        )
        if plan.suite is not None:
            from vlmeval_core.suites import suite_text

            click.echo(f"{PROG}: {suite_text(plan.suite, plan.judge)}", err=True)
        return
    check_environment()  # before the claim: a host that cannot run leaves no run directory
    if plan.judge is not None:  # a dead judge stops the run now, not after the inference
        from vlmeval_core.judge.client import probe

        probe(plan.judge)
    hub = check_hub(plan.model)
    if hub.note is not None:
        click.echo(f"{PROG}: note: {hub.note}", err=True)
    claim = lifecycle.claim(
        plan,
        identity,
        node_rank=launch.node_rank,
        nproc=launch.nproc,
        nnodes=launch.nnodes,
        restart=request.restart,
    )
    takeover = claim.lock.takeover_note()
    if takeover is not None:
        click.echo(f"{PROG}: note: {takeover}", err=True)
    if claim.moved_to is not None:
        click.echo(f"{PROG}: moved the previous run aside to {claim.moved_to}", err=True)
    ranks = f"{launch.nproc} rank{'s' if launch.nproc != 1 else ''}"
    where = "cpu" if plan.device == "cpu" else f"{len(launch.node.gpus)} GPU(s)"
    how = f"{ranks} per node on {where}"
    if plan.endpoint is not None:
        how = f"{plan.endpoint.concurrency} requests in flight to {plan.endpoint.base_url}"
    share = f"shard {launch.node.shard}/{plan.shards} of " if plan.shards > 1 else ""
    click.echo(
        f"{PROG}: {'resuming' if claim.resuming else 'starting'} {share}{plan.model.name} on "
        f"{', '.join(d.name for d in plan.datasets)}: {how}; results in {plan.run_dir}",
        err=True,
    )
    click.echo(f"{PROG}: plan {launch.plan_path}; exec {shlex.join(argv)}", err=True)
    handed = {
        **launch_environment(launch),
        **launch.node.to_env(),
        **lifecycle.handover(plan.run_dir, claim.attempt, claim.lock),
        QUIET_VARIABLE: "1" if request.quiet else "0",
        ALLOW_FAILED_ITEMS_VARIABLE: "1" if request.allow_failed_items else "0",
        REPORT_VARIABLE: "1" if request.report else "0",
        **hub.environment,
    }
    try:
        exec_ranks(argv, handed)
    except VlmevalError as exc:
        lifecycle.conclude(exc.exit_code, handed)  # no supervisor will end this attempt
        raise


SLURM_EPILOG = """\b
Examples:
  vlmeval slurm --shards 8 --image 'registry#vlmeval:0.1.0' -o /shared/outputs \\
      --data-dir /shared/data -m Qwen2-VL-7B-Instruct -d MMBench_DEV_EN --run-name mmb > mmb.sbatch
  vlmeval slurm --nodes 2 --runtime apptainer --image /shared/vlmeval.sif -o /shared/outputs \\
      --data-dir /shared/data -m Qwen2-VL-7B-Instruct -d MMStar --run-name mms > mms.sbatch
  vlmeval slurm --shards 2 --runtime venv --gpus-per-node 0 -m tiny-vlm -d ShapesMCQ --device cpu
\b
Prints the script; submit it as it is (sbatch mmb.sbatch). --output and --data-dir
must be shared volumes every node mounts at the same path. The other flags are
vlmeval eval's, passed on; without --run-name the script gets the time now.
"""


def slurm_options(command: Any) -> Any:
    """vlmeval slurm's own flags, the volumes, then the eval flags a shard or node passes on."""
    run_flags = [f for f in eval_flags() if f not in SCRIPT_SETTINGS + REFUSED]
    for field in reversed(run_flags):
        command = request_option(field)(command)
    command = request_option("data_dir", help="Datasets, on a volume every node mounts.")(command)
    command = request_option("output", help="Results, on a volume every node mounts.")(command)
    for field in reversed(eval_flags(SlurmRequest)):
        command = request_option(field, SlurmRequest)(command)
    return command


@main.command("slurm", epilog=SLURM_EPILOG)
@slurm_options
def slurm_command(**flags: Any) -> None:
    """Print the sbatch script of a run: a job array of shards, or one job of several nodes."""
    from vlmeval_core.run_names import check_run_name
    from vlmeval_launcher.launch import absolute_path, default_run_name
    from vlmeval_launcher.slurm import render, run_flag_args

    ctx = click.get_current_context()
    request = SlurmRequest(**{field: flags.pop(field) for field in eval_flags(SlurmRequest)})
    output, data_dir = absolute_path(flags.pop("output")), absolute_path(flags.pop("data_dir"))
    given = {
        field: value
        for field, value in flags.items()
        if ctx.get_parameter_source(field) is not click.core.ParameterSource.DEFAULT
    }
    given.setdefault("run_name", default_run_name())
    check_run_name(given["run_name"])
    click.echo(render(request, run_flag_args(given), output, data_dir, Path(sys.prefix)), nl=False)


JUDGE_FLAGS = ("judge", "judge_base", "judge_extra", "judge_concurrency", "judge_timeout")
"""The eval flags that name the judge, which vlmeval score takes too (in judge_spec's order)."""


def judge_options(command: Any) -> Any:
    """The judge's flags, as eval declares them."""
    for field in reversed(JUDGE_FLAGS):
        command = request_option(field)(command)
    return command


SCORE_EPILOG = """\b
Examples:
  vlmeval score Qwen2-VL-2B-Instruct_MMStar.xlsx -d MMStar
  vlmeval score outputs/tiny-vlm/demo/ShapesMCQ/predictions.jsonl -d ShapesMCQ -o rescored
  vlmeval score my_preds.csv -d /data/MyBench.tsv:mcq
  vlmeval score m_MathVista_MINI.xlsx -d MathVista_MINI --judge gpt-4o-mini
\b
PREDICTIONS: a VLMEvalKit result file (.xlsx, .tsv or .csv with index and
prediction columns) or a vlmeval predictions.jsonl. Writes <output>/<dataset>/:
predictions.jsonl, scores.json, the xlsx and VLMEvalKit's score table.
"""


@main.command("score", epilog=SCORE_EPILOG)
@click.argument("predictions", type=click.Path(dir_okay=False, path_type=Path))
@one_dataset_option()
@click.option(
    "--output",
    "-o",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Where <dataset>/ is written.  [default: the directory of PREDICTIONS, or its parent "
    "when that directory is <dataset>/ (eval's layout)]",
)
@request_option("data_dir")
@judge_options
def score_command(
    predictions: Path, data: str, output: Path | None, data_dir: str, **judge: Any
) -> None:
    """Score predictions made elsewhere, like VLMEvalKit's --mode eval (no GPU, no torch)."""
    from vlmeval_core.judge.spec import judge_spec
    from vlmeval_core.summary_page import score_text
    from vlmeval_launcher.launch import absolute_path
    from vlmeval_launcher.score import score_predictions

    spec = judge_spec(*(judge[field] for field in JUDGE_FLAGS))
    scored = score_predictions(predictions, data, output, absolute_path(data_dir), spec)
    scores = scored.scores
    score = score_text(scores["metric"], scores["overall"])
    click.echo(
        f"{scored.dataset}: {scores['metric']} {score} on {scores['n']} items "
        f"({scores['unparsed']} unparsed{_item_errors(scores)}); results in {scored.directory}"
    )


def _item_errors(scores: dict[str, Any]) -> str:
    """', N item errors' when items failed before an answer (they are not 'unparsed')."""
    errors = scores.get("errors") or 0
    return f", {_count(errors, 'item error')}" if errors else ""


COMPARE_EPILOG = """\b
Examples:
  vlmeval compare outputs/tiny-vlm/demo outputs/tiny-vlm/demo-bf16
  vlmeval compare outputs/model-a/run1 outputs/model-b/run1 rescored --json
\b
RUN: a run directory of vlmeval eval, or an output directory of vlmeval score.
The first is the baseline; every other run is compared with it, per dataset
both have, on the items both have. Markdown on stdout; --json for scripts.
"""


@main.command("compare", epilog=COMPARE_EPILOG)
@click.argument("runs", nargs=-1, metavar="RUN RUN [RUN...]", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document for scripts.")
def compare_command(runs: tuple[Path, ...], as_json: bool) -> None:
    """Compare runs with the first: per dataset and category, the paired difference and test."""
    from vlmeval_core.compare import compare_markdown, compare_runs

    document = compare_runs(list(runs))
    if as_json:
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(compare_markdown(document), nl=False)


MERGE_EPILOG = """\b
Example:
  vlmeval merge outputs/Qwen2-VL-7B-Instruct/mmb-sharded --data-dir /data
\b
The shard that finishes last merges by itself; this does it by hand (after a
shard's job was lost, or to score on another machine). Every shard must be
done: otherwise exit 2 naming the shards each dataset waits for.
"""


@main.command("merge", epilog=MERGE_EPILOG)
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(path_type=Path))
@request_option("data_dir")
def merge_command(run_dir: Path, data_dir: str) -> None:
    """Merge and score a sharded run once all its shards are done; print its summary."""
    from vlmeval_core.merge import merge_run
    from vlmeval_core.run_summary import print_summary
    from vlmeval_launcher.launch import absolute_path

    merge_run(run_dir, absolute_path(data_dir))
    print_summary(run_dir)


STATUS_EPILOG = """\b
Example:
  vlmeval status outputs/Qwen2-VL-7B-Instruct/mmb-sharded
\b
Reads the run directory only (plan.json, checkpoints, attempts): no lock is
taken, nothing starts, no cluster is needed. An unsharded run is shard 0 of 1.
"""


@main.command("status", epilog=STATUS_EPILOG)
@click.argument("run_dir", metavar="RUN_DIR", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list for scripts.")
def status_command(run_dir: Path, as_json: bool) -> None:
    """Per shard and dataset: items done, remaining and failed, and the shard's attempts."""
    from vlmeval_core.run_status import run_status

    rows = run_status(run_dir)
    if as_json:
        click.echo(json.dumps([row.to_dict() for row in rows], indent=2))
        return
    header = ["SHARD", "DATASET", "DONE", "REMAINING", "FAILED", "ATTEMPTS", "LAST ATTEMPT"]
    cells = [
        [
            str(row.shard),
            row.dataset,
            str(row.done),
            "not started" if row.remaining is None else str(row.remaining),
            str(row.failed),
            str(row.attempts),
            row.last_attempt,
        ]
        for row in rows
    ]
    _table(header, cells)


PROMPTS_EPILOG = """\b
Examples:
  vlmeval prompts -m Qwen2-VL-7B-Instruct -d MMStar --limit 3
  vlmeval prompts -m tiny-vlm -d ShapesMCQ --json --limit 2
\b
--json prints one line per item: {"index": …, "messages": [{"type": "image",
"value": "<where the image comes from>"}, {"type": "text", "value": "…"}]},
VLMEvalKit's message format (a family's system prompt comes first, type "system").
"""


@main.command("prompts", epilog=PROMPTS_EPILOG)
@click.option(
    "--model",
    "-m",
    required=True,
    metavar="NAME",
    help="Registered name, hub id (org/name) or local directory.",
)
@one_dataset_option()
@request_option("limit", help="Only the first N items.", envvar=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON line per item.")
@request_option("images", help="How images are fed.", envvar=None)
@request_option("prompt_family", help="Whose prompts.", envvar=None)
@request_option("nframe", envvar=None)
@request_option("fps", envvar=None)
@request_option("data_dir")
def prompts_command(
    model: str,
    data: str,
    limit: int | None,
    as_json: bool,
    images: str | None,
    prompt_family: str | None,
    nframe: int | None,
    fps: float | None,
    data_dir: str,
) -> None:
    """Print exactly what each item sends the model (no weights, no GPU, no torch); a
    video's frames by index and time."""
    from vlmeval_launcher.launch import absolute_path
    from vlmeval_launcher.prompts import as_json_line, item_prompts, model_record, readable

    record = model_record(model, prompt_family, images)
    frames = {"nframe": nframe, "fps": fps}
    for item in item_prompts(record, data, absolute_path(data_dir), limit, **frames):
        click.echo(as_json_line(item) if as_json else readable(item) + "\n")


@main.command("gpus")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list for scripts.")
def gpus_command(as_json: bool) -> None:
    """List the GPUs a run may use (NVML, honouring CUDA_VISIBLE_DEVICES).

    Exits 2 when no GPU is usable (3: a broken driver, or GPUs too old), so a
    script can use it as a probe; with --json the list is printed first ([]).
    """
    from vlmeval_launcher.gpus import CPU_FIX, discover

    inventory = discover()
    if as_json:
        click.echo(json.dumps([g.to_dict() for g in inventory.gpus], indent=2))
    inventory.require(cpu_fix=CPU_FIX)
    if as_json:
        return
    rows = [(str(g.index), g.uuid, g.name, f"{g.memory_total_mib} MiB") for g in inventory.gpus]
    _table(("INDEX", "UUID", "NAME", "MEMORY"), rows)
    facts = [f"{len(rows)} usable"]
    if inventory.visibility:
        facts.append(inventory.visibility)
    if inventory.driver_version:
        facts.append(f"driver {inventory.driver_version}")
    if inventory.cuda_driver_version:
        facts.append(f"CUDA {inventory.cuda_driver_version}")
    click.echo(" · ".join(facts))


@main.group("list")
def list_group() -> None:
    """Show the registered models or datasets."""


@list_group.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def list_models(as_json: bool) -> None:
    """Registered models: where their weights come from, their prompts and defaults."""
    from vlmeval_core.models.registry import MODELS
    from vlmeval_core.prompt_families import FAMILIES

    records = [dataclasses.asdict(m) for m in MODELS.values()]
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    _table(
        ("NAME", "SOURCE", "HUB ID / PATH", "PROMPTS", "BATCH", "NEW TOKENS", "PROCESSOR"),
        [
            (
                r["name"],
                r["source"],
                r["path"],
                r["prompt_family"],
                str(r["batch_size"]),
                str(r["max_new_tokens"]),
                " ".join(f"{k}={v}" for k, v in r["processor"].items()) or "-",
            )
            for r in records
        ],
    )
    click.echo("Any hub id (org/name) or local model directory works too (prompts: dataset).")
    click.echo(f"Prompt families (--prompt-family): {', '.join(FAMILIES)}.")


@list_group.command("datasets")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@request_option("data_dir")
def list_datasets(as_json: bool, data_dir: str) -> None:
    """Registered datasets: kind, metric, where they come from, whether the file is there."""
    from urllib.parse import urlparse

    from vlmeval_core.datasets.download import local_path
    from vlmeval_core.datasets.registry import DATASETS, KINDS
    from vlmeval_launcher.launch import absolute_path

    directory = absolute_path(data_dir)
    records = []
    for e in DATASETS.values():
        path = local_path(e, directory) if e.source == "download" else None
        records.append(
            {
                "name": e.name,
                "kind": KINDS.get(e.kind, e.kind),
                "metric": e.metric,
                "source": e.source,
                "url": e.url,
                "md5": e.md5,
                "file": str(path) if path else None,
                "present": path.is_file() if path else None,
                "description": e.description,
            }
        )
    if as_json:
        click.echo(json.dumps(records, indent=2))
        return
    _table(
        ("NAME", "KIND", "METRIC", "IN DATA DIR", "SOURCE", "DESCRIPTION"),
        [
            (
                r["name"],
                r["kind"],
                r["metric"],
                "generated" if r["present"] is None else ("yes" if r["present"] else "no"),
                urlparse(r["url"]).netloc if r["url"] else r["source"],
                r["description"],
            )
            for r in records
        ],
    )
    click.echo(f"Data dir: {directory}. `vlmeval fetch -d NAME` downloads ahead of a run.")
    click.echo("A local VLMEvalKit TSV works too: -d path/to/file.tsv[:mcq|yorn|vqa].")


FETCH_EPILOG = """\b
Examples:
  vlmeval fetch -d MMBench_DEV_EN -d MMStar,POPE --data-dir /data
  vlmeval fetch -m Qwen2-VL-2B-Instruct -d MME
\b
Datasets are checked against VLMEvalKit's md5 and downloaded only when missing
or wrong; models go to the Hugging Face cache (HF_HOME). Mirrors:
VLMEVAL_DATA_URL_BASE, VLMEVAL_DATA_URL_<NAME>, VLMEVAL_DATA_MD5_<NAME>.
"""


@main.command("fetch", epilog=FETCH_EPILOG)
@_option(
    "--data",
    "-d",
    multiple=True,
    metavar="NAMES",
    help="Registered dataset names; repeat -d or separate with commas or spaces.",
)
@_option(
    "--model",
    "-m",
    multiple=True,
    metavar="NAME",
    help="Registered model name or hub id (org/name) to put in the Hugging Face cache.",
)
@request_option("revision", help="Hub revision of the model(s).")
@request_option("data_dir")
def fetch_command(
    data: tuple[str, ...], model: tuple[str, ...], revision: str | None, data_dir: str
) -> None:
    """Download datasets and models ahead of a run, for hosts without network."""
    from vlmeval_core.errors import UsageError
    from vlmeval_launcher.fetch import fetch_dataset, fetch_model, plan_datasets
    from vlmeval_launcher.launch import absolute_path, split_data

    names = plan_datasets(split_data(data))
    models = split_data(model)
    if not names and not models:
        raise UsageError("fetch needs --data NAMES and/or --model NAME (see 'vlmeval fetch -h')")
    directory = absolute_path(data_dir)
    outcomes = [fetch_dataset(n, directory) for n in names]
    outcomes += [fetch_model(m, revision) for m in models]
    code = 0
    for outcome in outcomes:
        if outcome.error is None:
            click.echo(f"{outcome.name}: {outcome.message}")
        else:
            _error(str(outcome.error))
            code = max(code, outcome.error.exit_code)
    if code:
        click.get_current_context().exit(code)


REPORT_EPILOG = """\b
Examples:
  vlmeval report outputs/tiny-vlm/demo
  vlmeval report outputs/model-a/run1 outputs/model-b/run1 -o comparison
\b
RUN_DIR: a run directory of vlmeval eval, or an output directory of vlmeval
score. Writes DIR/report.html (self-contained, opens offline) and its figures'
PNGs beside it.
"""


@main.command("report", epilog=REPORT_EPILOG)
@click.argument(
    "run_dirs",
    nargs=-1,
    required=True,
    metavar="RUN_DIR...",
    type=click.Path(path_type=Path),
)
@click.option(
    "--output",
    "-o",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Where report.html and its PNGs go.  [default: the first RUN_DIR's report/]",
)
def report_command(run_dirs: tuple[Path, ...], output: Path | None) -> None:
    """Write an HTML report, with figures, of one run or several side by side."""
    from vlmeval_core.report_page.page import write_report

    click.echo(f"report in {write_report(list(run_dirs), output)}")


@main.command("doctor")
@request_option("output", help="Results volume to check.")
@request_option("data_dir", help="Dataset directory to check.")
@request_option("device", help="With cuda, a missing GPU is a failure.")
def doctor_command(output: str, data_dir: str, device: str) -> None:
    """Check driver, CUDA, NCCL, torch, GPUs and directories; exit 3 if a run would fail."""
    from vlmeval_launcher.doctor import FAIL, WARN, exit_code, run_checks
    from vlmeval_launcher.launch import absolute_path

    checks = run_checks(absolute_path(output), absolute_path(data_dir), device)
    for check in checks:
        click.echo(check.line())
    fails = sum(c.status == FAIL for c in checks)
    warns = sum(c.status == WARN for c in checks)
    click.echo(f"{_count(fails, 'failure')}, {_count(warns, 'warning')}")
    code = exit_code(checks)
    if code:
        click.get_current_context().exit(code)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        click.echo("  ".join(cells).rstrip())
