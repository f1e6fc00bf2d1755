"""``vlmeval prompts -m MODEL -d DATA [--limit N] [--json]`` (issue 10, point 7): exactly
what each item sends the model, in VLMEvalKit's message format, without weights or a GPU
(torch stays unimported: tests/test_launcher_torch_free.py)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from vlmeval_core.datasets import shapes
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.prompt_families import FAMILIES, item_messages
from vlmeval_launcher.cli import main


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LMUData", str(tmp_path / "data"))
    return tmp_path / "data"


def prompts(*args: str):
    return CliRunner().invoke(main, ["prompts", *args])


def test_json_gives_one_line_per_item_as_vlmevalkit_messages(data_dir):
    result = prompts("-m", "Qwen2-VL-2B-Instruct", "-d", "ShapesMCQ", "--limit", "3", "--json")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [item["index"] for item in lines] == [0, 1, 2]
    dataset = load_tsv(data_dir / shapes.tsv_name("ShapesMCQ", 0), "ShapesMCQ")
    for position, item in enumerate(lines):
        image, text = item["messages"]
        assert image == {
            "type": "image",
            "value": f"{dataset.path.name}: index {position}, image 1 of 1, re-encoded as "
            f"{position}.png",
        }
        # exactly what a rank sends: the same family code, with the decoded image there
        sent = item_messages(FAMILIES["qwen2-vl"], dataset, position, ["decoded"])
        assert text == sent[1] and text["value"].endswith("from the options above.")


def test_the_model_family_decides_the_text_and_the_flags_override_it(data_dir):
    def first_text(*args: str) -> str:
        result = prompts("-d", "ShapesMCQ", "--limit", "1", "--json", *args)
        assert result.exit_code == 0, result.stderr
        messages = json.loads(result.stdout)["messages"]
        return next(m["value"] for m in messages if m["type"] == "text")

    tiny = first_text("-m", "tiny-vlm")
    assert tiny.endswith("Please select the correct answer from the options above. \n")
    assert first_text("-m", "tiny-vlm", "--prompt-family", "qwen2-vl") == tiny.rstrip()
    assert first_text("-m", "InternVL3-1B-hf").endswith("from the given choices directly.")
    internvl = prompts("-m", "InternVL3-1B-hf", "-d", "ShapesMCQ", "--limit", "1", "--json")
    # InternVLChat.generate_v2's reorganize_prompt: its model sees the image first
    assert [m["type"] for m in json.loads(internvl.stdout)["messages"]] == ["image", "text"]
    gemma = prompts("-m", "gemma-3-4b-it", "-d", "ShapesVQA", "--limit", "1", "--json")
    messages = json.loads(gemma.stdout)["messages"]
    assert messages[0] == {"type": "system", "value": "You are a helpful assistant. "}


def test_images_original_says_the_tsv_bytes_are_sent(data_dir):
    result = prompts("-m", "tiny-vlm", "-d", "ShapesYN", "--limit", "1", "--json",
                     "--images", "original")  # fmt: skip
    (image, _) = json.loads(result.stdout)["messages"]
    assert image["value"].endswith("image 1 of 1, the TSV's bytes")


def test_the_readable_rendering_shows_each_item(data_dir):
    result = prompts("-m", "tiny-vlm", "-d", "ShapesYN", "--limit", "2")
    assert result.exit_code == 0, result.stderr
    blocks = result.stdout.strip().split("\n\n")
    assert len(blocks) == 2
    head, image, text = blocks[0].splitlines()
    assert head == "── index 0"
    assert image.startswith("[image: ") and image.endswith("re-encoded as 0.png]")
    assert text.endswith("Please answer yes or no.")


def test_bad_input_is_one_line_and_exit_2(data_dir):
    unknown = prompts("-m", "Qwen2-VL-2B-Instrcut", "-d", "ShapesMCQ")
    assert unknown.exit_code == 2
    assert unknown.stderr.startswith("vlmeval: error: --model 'Qwen2-VL-2B-Instrcut'")
    assert len(unknown.stderr.splitlines()) == 1
    limit = prompts("-m", "tiny-vlm", "-d", "ShapesMCQ", "--limit", "0")
    assert limit.exit_code == 2 and "--limit is 0" in limit.stderr
    family = prompts("-m", "tiny-vlm", "-d", "ShapesMCQ", "--prompt-family", "nope")
    assert family.exit_code == 2 and "--prompt-family 'nope'" in family.stderr


def test_a_tsv_named_pope_gets_popes_prompt_whatever_its_answers(tmp_path, data_dir, caplog):
    tsv = tmp_path / "POPE.tsv"
    tsv.write_text(
        "index\timage_path\tquestion\tanswer\tcategory\n"
        "1\tx.png\tIs there a cat in the image?\tYes\trandom\n"
        "2\tx.png\tIs there a dog in the image?\tdog\trandom\n"
    )
    result = prompts("-m", "Qwen2-VL-2B-Instruct", "-d", str(tsv), "--json")
    assert result.exit_code == 0, result.stderr
    texts = [json.loads(line)["messages"][-1]["value"] for line in result.stdout.splitlines()]
    assert texts == [
        "Is there a cat in the image? Please answer yes or no.",
        "Is there a dog in the image? Please answer yes or no.",
    ]  # Qwen2-VL's POPE prompt, not its VQA one
    (warning,) = [r.getMessage() for r in caplog.records]  # stderr outside pytest
    assert warning.startswith(f"vlmeval: warning: {tsv}: ")
    assert "scored as yorn (the kind of POPE" in warning
