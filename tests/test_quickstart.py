"""The README's quick start, word for word: its make targets exist, `make install` ends by
saying how to put `vlmeval` on PATH, and its `vlmeval` lines work in a new shell that
sourced the venv's activate script (real bash, real make, a real CPU run)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

import fake_nvml

ROOT = Path(__file__).resolve().parent.parent
ACTIVATE = ". .venv/bin/activate"


def quick_start_lines() -> list[str]:
    """The commands of the first bash block under '## Quick start', comments stripped."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Quick start") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None
    return [line.split("#")[0].strip() for line in block[1].splitlines() if line.strip()]


def test_the_quick_start_activates_the_venv_before_calling_vlmeval():
    lines = quick_start_lines()
    assert lines[0] == "make install"
    first_vlmeval = next(i for i, line in enumerate(lines) if line.startswith("vlmeval"))
    assert ACTIVATE in lines[:first_vlmeval]
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for line in lines:
        if line.startswith("make "):
            target = line.split()[1]
            assert re.search(rf"^{re.escape(target)}:", makefile, re.M), target


def test_make_install_ends_with_where_vlmeval_is_and_how_to_put_it_on_path(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "vlmeval").touch()  # newer than pyproject.toml: nothing to rebuild
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "install", f"VENV={venv}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    last = done.stdout.splitlines()[-1]
    assert last.startswith(f"make install: done. vlmeval is {venv}/bin/vlmeval (venv ")
    assert last.endswith(f"put it on PATH in this shell with:  . {venv}/bin/activate")


@pytest.mark.slow
def test_the_quick_start_vlmeval_lines_run_in_a_new_shell(tmp_path):
    assert (ROOT / ".venv" / "bin" / "activate").is_file(), "run make install first"
    env = fake_nvml.subprocess_env(None, fake=False, LMUData=str(tmp_path / "data"))
    env["PATH"] = os.defpath  # a new shell: no venv on PATH
    for line in (line for line in quick_start_lines() if line.startswith("vlmeval")):
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-c", f". {ROOT}/.venv/bin/activate && {line}"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, f"{line}: {done.stderr[-3000:]}"
    assert "| ShapesMCQ | accuracy |" in done.stdout
