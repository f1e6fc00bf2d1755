"""Each flag of `vlmeval eval` is declared once: a field of EvalRequest (issue 12, point 10).

Its name, type, default and help live in eval_flags.py; the click option, the
environment variable, the request a command line builds and the README's flag
table all follow from that one declaration.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from vlmeval_launcher import cli, launch
from vlmeval_launcher.eval_flags import EvalRequest, eval_flags, flag

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {f.name: f for f in dataclasses.fields(EvalRequest)}


def eval_params() -> dict[str, click.Option]:
    command = cli.main.commands["eval"]
    return {p.name: p for p in command.params if p.name != "help"}


def clean_env(monkeypatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("VLMEVAL_") or name == "LMUData":
            monkeypatch.delenv(name)


class Captured(Exception):
    def __init__(self, request):
        self.request = request


def request_of(args: list[str], monkeypatch) -> EvalRequest:
    """The EvalRequest `vlmeval eval ARGS` builds (nothing is resolved or started)."""

    def capture(request, *rest):
        raise Captured(request)

    monkeypatch.setattr(launch, "resolve_launch", capture)
    result = CliRunner().invoke(cli.main, ["eval", *args], standalone_mode=False)
    assert isinstance(result.exception, Captured), result.output
    return result.exception.request


def test_every_request_field_is_exactly_one_option_of_eval_and_nothing_else_is():
    params = eval_params()
    assert list(params) == list(FIELDS)  # the same flags, in the declared order
    for name, param in params.items():
        assert isinstance(param, click.Option)
        assert param.opts[0] == "--" + name.replace("_", "-")


def test_each_option_has_its_fields_default_and_required_exactly_when_the_field_has_none():
    for name, param in eval_params().items():
        field = FIELDS[name]
        if field.default is dataclasses.MISSING:
            assert param.required, name
        else:
            assert not param.required and param.default == field.default, name


def test_each_option_reads_its_variable_and_shows_its_declared_help(monkeypatch):
    for name, param in eval_params().items():
        spec = eval_flags()[name]
        envvars = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
        assert envvars[0] == "VLMEVAL_" + name.upper(), name
        assert param.help.startswith(spec.flag.help), name
        assert param.metavar == spec.flag.metavar, name
    assert list(eval_params()["data_dir"].envvar) == ["VLMEVAL_DATA_DIR", "LMUData"]


def test_a_bare_command_line_gives_the_declared_request(monkeypatch):
    clean_env(monkeypatch)
    assert request_of(["-m", "tiny-vlm", "-d", "ShapesMCQ"], monkeypatch) == EvalRequest(
        model="tiny-vlm", data=("ShapesMCQ",)
    )


def test_flags_and_variables_reach_the_request_typed(monkeypatch):
    clean_env(monkeypatch)
    monkeypatch.setenv("VLMEVAL_SEED", "5")
    monkeypatch.setenv("VLMEVAL_DTYPE", "")  # empty: unset, the default (the record's) applies
    request = request_of(
        [
            *("-m", "tiny-vlm", "-d", "A", "-d", "B"),
            *("--device", "CPU", "--api-timeout", "2.5", "--no-trust-remote-code", "-q"),
        ],
        monkeypatch,
    )
    assert request.data == ("A", "B")
    assert request.device == "cpu"  # choices are case-insensitive, the value is the choice
    assert request.api_timeout == 2.5 and request.seed == 5 and request.dtype is None
    assert request.trust_remote_code is False and request.quiet is True
    assert request.dry_run is False and request.restart is False


def test_help_shows_each_declared_default_and_choice():
    command = cli.main.commands["eval"]
    with click.Context(command, info_name="eval") as ctx:
        records = {name: param.get_help_record(ctx) for name, param in eval_params().items()}
    for name, spec in eval_flags().items():
        opts, help_text = records[name]
        assert spec.long in opts and help_text.startswith(spec.flag.help), name
        if spec.choices:
            assert f"[{'|'.join(spec.choices)}]" in opts, name
        if spec.default not in (None, False) and not spec.required:
            assert f"default: {spec.default}]" in help_text, name
        if spec.flag.default_text:
            assert f"[default: {spec.flag.default_text}]" in help_text, name


@dataclass(frozen=True)
class SeedSeven(EvalRequest):
    """EvalRequest with one default changed, in its one place."""

    seed: int = flag(7, help="Random seed of every rank.")


def test_a_default_changed_in_its_one_place_shows_in_help_and_in_the_request():
    made = []

    @click.command()
    @cli.request_options(SeedSeven)
    def command(**flags):
        made.append(SeedSeven(**flags))

    runner = CliRunner()
    help_text = runner.invoke(command, ["--help"], terminal_width=200).output
    assert re.search(r"--seed INTEGER .*default: 7\]", help_text)
    assert runner.invoke(command, ["-m", "x", "-d", "y"], env={"VLMEVAL_SEED": ""}).exit_code == 0
    assert made == [SeedSeven(model="x", data=("y",))] and made[0].seed == 7


def test_other_commands_take_the_shared_flags_from_the_declaration():
    for command, fields in {
        "doctor": ("output", "data_dir", "device"),
        "fetch": ("revision", "data_dir"),
        "prompts": ("images", "prompt_family", "limit", "data_dir"),
        "score": (
            "data_dir",
            "judge",
            "judge_base",
            "judge_extra",
            "judge_concurrency",
            "judge_timeout",
        ),
    }.items():
        params = {p.name: p for p in cli.main.commands[command].params}
        for name in fields:
            spec, param = eval_flags()[name], params[name]
            assert param.default == spec.default, (command, name)
            if spec.choices:
                assert tuple(param.type.choices) == spec.choices, (command, name)


def test_the_endpoint_check_knows_the_declared_defaults():
    for name, default in launch._NOT_FOR_ENDPOINTS.items():
        assert default == FIELDS[name].default


# --- the README's flag table ------------------------------------------------------------


def readme_flag_rows() -> list[tuple[list[str], str]]:
    """(the flags a row names, its meaning) for each row of the README's eval flag table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| flag | meaning |") :].split("\n\n", 1)[0]
    rows = []
    for line in table.splitlines()[2:]:
        names, meaning = line.strip("|").split("|", 1)
        rows.append((re.findall(r"--[a-z][a-z-]*", names), meaning))
    return rows


def test_the_readme_flag_table_names_every_eval_flag_once_and_no_other():
    named = [name for names, _ in readme_flag_rows() for name in names]
    assert sorted(named) == sorted(spec.long for spec in eval_flags().values())


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_the_readme_states_each_flags_declared_default():
    """A default other than off or none is in the flag's row: `default `X`` or `--flag X`."""
    for names, meaning in readme_flag_rows():
        for name in names:
            spec = next(s for s in eval_flags().values() if s.long == name)
            if spec.required or spec.default in (None, False):
                continue
            shown = _shown(spec.default)
            stated = f"`{name} {shown}`" in meaning or (
                len(names) == 1 and f"default `{shown}`" in meaning
            )
            assert stated, f"README: the row of {name} should state its default {shown}"


@pytest.mark.parametrize("field", ["nnodes", "api_timeout"])
def test_the_readme_check_catches_a_changed_default(field, monkeypatch):
    spec = eval_flags()[field]
    changed = dataclasses.replace(spec, default=spec.default * 3)
    monkeypatch.setitem(eval_flags(), field, changed)
    with pytest.raises(AssertionError, match=spec.long):
        test_the_readme_states_each_flags_declared_default()


def test_a_flag_and_the_plan_field_it_fills_share_one_default():
    """A plan built in code (or hand-written without the field) gets what the flag gives."""
    from vlmeval_core.datasets.registry import resolve_dataset
    from vlmeval_core.models.registry import MODELS
    from vlmeval_core.run_plan import EndpointSpec, Plan

    request = EvalRequest(model="tiny-vlm", data=("ShapesMCQ",))
    plan = Plan(MODELS["tiny-vlm"], (resolve_dataset("ShapesMCQ"),), "cpu", "/out", "r")
    endpoint = EndpointSpec("http://127.0.0.1:8000/v1")
    assert (request.seed, request.limit) == (plan.seed, plan.limit)
    assert (request.api_concurrency, request.api_timeout, request.api_max_response_bytes) == (
        endpoint.concurrency,
        endpoint.timeout_s,
        endpoint.max_response_bytes,
    )
