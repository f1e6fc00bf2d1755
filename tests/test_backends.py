"""One backend seam (issue 18, points 2 and 3): ``BACKENDS`` names each backend's class,
imported on use; the plan's ``model.backend`` picks one; every backend has one ``predict``
with one signature, behind the same checkpoint store, progress and stats
(:func:`vlmeval_core.backends.predict_missing`); and the endpoint package never calls
back into the worker."""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import make_plan
from vlmeval_core import backends
from vlmeval_core.checkpoints import Answer, ShardStats, ShardStore, read_checkpoints
from vlmeval_core.datasets import shapes
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.distributed import RankInfo
from vlmeval_core.endpoint.runner import Endpoint
from vlmeval_core.errors import UsageError
from vlmeval_core.inference import Transformers
from vlmeval_core.models.record import ModelSpec
from vlmeval_core.prompt_families import DEFAULT_FAMILY, FAMILIES
from vlmeval_core.run_plan import EndpointSpec, Plan

SOURCE = Path(backends.__file__).parent
PROTOCOL = ("from_plan", "load", "predict", "width")


@pytest.mark.parametrize("name", sorted(backends.BACKENDS))
def test_every_backend_has_the_seam_s_methods_with_its_signatures(name):
    cls = backends.backend_class(name)
    for method in PROTOCOL:
        theirs = inspect.signature(getattr(cls, method)).parameters
        assert theirs == inspect.signature(getattr(backends.Backend, method)).parameters, method
    assert {"commit", "server_models"} <= set(dir(cls))


def test_the_plan_s_model_backend_picks_the_backend():
    assert sorted(backends.BACKENDS) == ["api", "transformers"]
    local = make_plan(Path("/tmp"), ["ShapesMCQ"])
    loaded = backends.load_backend(local)
    assert type(loaded) is Transformers and loaded.batch_size == local.model.batch_size
    served = ModelSpec("served", None, "served", backend="api", batch_size=1)
    api = Plan(served, local.datasets, "cpu", "/out", "r", endpoint=EndpointSpec("http://h:1/v1"))
    built = backends.load_backend(api)  # nothing is reached before a dataset has work
    assert type(built) is Endpoint and built.concurrency == api.endpoint.concurrency
    assert loaded.load_s == built.load_s == 0.0 and built.server_models is None


@pytest.mark.parametrize(
    ("source", "backend", "endpoint", "refusal"),
    [
        ("hub", "api", False, 'settings are given exactly when model.backend is "api"'),
        ("hub", "transformers", True, 'settings are given exactly when model.backend is "api"'),
        ("hub", "api", True, "is null for a served one"),
        (None, "transformers", False, "is null for a served one"),
        ("api", "api", True, "model.source"),  # "api" is said by the backend alone
    ],
)
def test_the_plan_says_api_once_in_model_backend_and_refuses_what_disagrees(
    source, backend, endpoint, refusal
):
    raw = make_plan(Path("/tmp"), ["ShapesMCQ"]).to_dict()
    raw["model"].update(source=source, backend=backend)
    raw["endpoint"] = {"base_url": "http://h:1/v1"} if endpoint else None
    with pytest.raises(UsageError, match=re.escape(refusal)):
        Plan.from_dict(raw)


def test_a_served_model_s_plan_states_api_once():
    raw = make_plan(Path("/tmp"), ["ShapesMCQ"]).to_dict()
    raw["model"].update(source=None, backend="api")
    raw["endpoint"] = {"base_url": "http://h:1/v1"}
    plan = Plan.from_dict(raw)
    assert json.dumps(plan.to_dict()).count('"api"') == 1


def test_the_api_backend_and_the_seam_import_no_torch():
    code = (
        "import sys; from vlmeval_core import backends, run_datasets; "
        "backends.backend_class('api'); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules, 'torch'"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def test_no_module_calls_back_into_the_worker_and_the_backends_import_no_seam():
    """The worker is an entry only; the backends sit below the seam that picks them."""
    for path in SOURCE.rglob("*.py"):
        assert "vlmeval_core.worker" not in imported_modules(path), path
    for path in (SOURCE / "inference.py", *(SOURCE / "endpoint").glob("*.py")):
        names = imported_modules(path)
        assert "vlmeval_core.backends" not in names, path
        if path.name != "__main__.py":
            assert not any(n.startswith("vlmeval_core.run_datasets") for n in names), path


class Counting:
    """A backend answering every item with its letter, counting what it is asked."""

    load_s, commit, server_models = 0.0, None, None
    family, images = FAMILIES[DEFAULT_FAMILY], "vlmevalkit"

    def __init__(self) -> None:
        self.loads, self.asked = 0, []

    @classmethod
    def from_plan(cls, plan: Plan) -> Counting:
        return cls()

    def load(self) -> None:
        self.loads += 1

    def predict(self, dataset, positions: list[int], store: ShardStore) -> ShardStats:
        self.asked.append(list(positions))
        store.append([Answer(p, "A", None, 1, "eos") for p in positions])
        return ShardStats(batch_size=len(positions))

    def width(self, stats: ShardStats) -> str:
        return "all at once"


def test_every_backend_gets_the_same_resume_load_and_stats(tmp_path):
    table = tmp_path / "Shapes.tsv"
    shapes.generate("ShapesMCQ", n=6).to_csv(table, sep="\t", index=False)
    dataset = load_tsv(table, "Shapes", "mcq")
    directory, indices = tmp_path / "run" / "Shapes", dataset.frame["index"].tolist()
    (directory / ".shards").mkdir(parents=True)
    done_before = {"index": indices[2], "prediction": "B", "error": None}
    (directory / ".shards" / "rank-1.jsonl").write_text(json.dumps(done_before) + "\n")
    backend = Counting()

    stats = backends.predict_missing(backend, dataset, directory, [0, 2, 4], RankInfo(0, 1, 0, 1))
    assert backend.asked == [[0, 4]] and backend.loads == 1
    assert (stats.predicted, stats.resumed, stats.batch_size) == (2, 1, 2)
    assert stats.wall_s >= 0
    assert set(read_checkpoints(directory, indices)) == {indices[0], indices[2], indices[4]}

    again = backends.predict_missing(backend, dataset, directory, [0, 2, 4], RankInfo(0, 1, 0, 1))
    assert backend.asked[-1] == [] and backend.loads == 1  # nothing left: nothing loaded
    assert (again.predicted, again.resumed) == (0, 3)
