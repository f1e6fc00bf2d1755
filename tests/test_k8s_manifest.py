"""deploy/k8s/indexed-job.yaml: valid against the Kubernetes API schema (kubernetes-validate,
strict), an Indexed Job whose pods run the SLURM recipe's shard command, as the image's user."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from sbatch_steps import sbatch_steps
from test_slurm_recipe import slurm, with_volumes, written_by
from vlmeval_launcher.cli import eval_command

pytestmark = pytest.mark.usefixtures("workspace")

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "deploy" / "k8s" / "indexed-job.yaml"
KUBERNETES = "1.33.0"
"""The oldest version the manifest is for: backoffLimitPerIndex and podFailurePolicy GA."""


def documents() -> dict[str, dict]:
    return {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text(encoding="utf-8"))}


def container(job: dict) -> dict:
    (one,) = job["spec"]["template"]["spec"]["containers"]
    return one


@pytest.mark.parametrize("version", [KUBERNETES, kubernetes_validate.latest_version()])
def test_every_document_is_valid(version):
    for document in documents().values():
        kubernetes_validate.validate(document, version, strict=True)


def test_the_validator_refuses_a_misspelt_field():
    job = copy.deepcopy(documents()["Job"])
    job["spec"]["completionsMode"] = job["spec"].pop("completionMode")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, KUBERNETES, strict=True)


def test_pod_i_runs_the_slurm_recipes_shard_command(tmp_path):
    job = documents()["Job"]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    shards = spec["completions"]
    assert spec["parallelism"] == shards
    args = container(job)["args"]
    array = ROOT / "deploy" / "slurm" / "array.sbatch"
    script = tmp_path / "job.sbatch"
    script.write_text(slurm(*with_volumes(written_by(array), tmp_path)))
    for index in (0, shards - 1):
        done, steps = sbatch_steps(script, tmp_path, {"SLURM_ARRAY_TASK_ID": str(index)})
        assert done.returncode == 0, done.stderr
        (step,) = steps
        recipe = step[step.index("/opt/venv/bin/vlmeval") + 1 :]
        pod = [a.replace("$(JOB_COMPLETION_INDEX)", str(index)) for a in args]
        assert pod == recipe
        assert eval_command.make_context("eval", pod[1:]).params["shard"] == f"{index}/{shards}"


def test_the_index_is_an_environment_variable_so_that_args_expand_it():
    (env,) = [
        e for e in container(documents()["Job"])["env"] if e["name"] == "JOB_COMPLETION_INDEX"
    ]
    path = env["valueFrom"]["fieldRef"]["fieldPath"]
    assert path == "metadata.annotations['batch.kubernetes.io/job-completion-index']"


def test_retries_per_index_and_no_retry_for_a_usage_error():
    spec = documents()["Job"]["spec"]
    assert spec["backoffLimitPerIndex"] >= 1
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    (fail,) = [r for r in spec["podFailurePolicy"]["rules"] if r["action"] == "FailIndex"]
    assert fail["onExitCodes"] == {"containerName": "vlmeval", "operator": "In", "values": [2]}


def test_security_context_matches_the_image():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text(encoding="utf-8")
    user = re.search(r"useradd --uid (\d+) --gid (\d+)", dockerfile)
    assert user is not None
    uid, gid = map(int, user.groups())
    job = documents()["Job"]
    pod = job["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert (pod["runAsUser"], pod["runAsGroup"], pod["fsGroup"]) == (uid, gid, gid)
    one = container(job)
    assert one["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert "command" not in one, "args only: the image's entrypoint (tini, vlmeval) stays"
    assert one["resources"]["limits"]["nvidia.com/gpu"] >= 1


def test_writable_paths_are_volumes_and_outputs_are_shared():
    job = documents()["Job"]
    mounts = {m["mountPath"]: m["name"] for m in container(job)["volumeMounts"]}
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    home = re.search(r"HOME=(\S+)", (ROOT / "docker" / "Dockerfile").read_text()).group(1)
    for path in ("/tmp", home):
        assert "emptyDir" in volumes[mounts[path]], path
    for path in ("/outputs", "/data", "/cache/huggingface"):
        claim = volumes[mounts[path]]["persistentVolumeClaim"]["claimName"]
        assert claim == documents()["PersistentVolumeClaim"]["metadata"]["name"]
    assert documents()["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_the_token_comes_from_a_secret_never_the_manifest():
    (token,) = [e for e in container(documents()["Job"])["env"] if e["name"] == "HF_TOKEN"]
    assert set(token) == {"name", "valueFrom"} and "secretKeyRef" in token["valueFrom"]
