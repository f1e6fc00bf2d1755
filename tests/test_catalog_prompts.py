"""Each registered benchmark is prompted as VLMEvalKit's dataset class prompts it."""

from __future__ import annotations

import pytest

from catalog_fixtures import LAYOUTS, tsv_bytes
from vlmeval_core.datasets.registry import DATASETS
from vlmeval_core.datasets.tsv import load_tsv
from vlmeval_core.scoring.metrics import metric_for

MCQ_END = "Please select the correct answer from the options above. \n"
VQA_END = "\nAnswer the question using a single word or phrase."


def loaded(tmp_path, name):
    path = tmp_path / DATASETS[name].file_name
    path.write_bytes(tsv_bytes(LAYOUTS[name](name)))
    return load_tsv(path, name, DATASETS[name].kind)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_the_prompt_style_of_each_benchmark(tmp_path, name):
    dataset = loaded(tmp_path, name)
    row = dataset.frame.iloc[0]
    text = dataset.prompt(0)
    question = str(row["question"])
    if DATASETS[name].kind == "mcq":  # ImageMCQDataset (and MMMUDataset)
        assert f"Question: {question}\n" in text
        letters = [k for k in "ABCDE" if k in row and isinstance(row[k], str)]
        options = "Options:\n" + "".join(f"{k}. {row[k]}\n" for k in letters)
        assert text.endswith(options + MCQ_END)
    elif name in ("TextVQA_VAL", "DocVQA_VAL", "InfoVQA_VAL", "ChartQA_TEST"):
        assert text == question + VQA_END  # ImageVQADataset
    else:  # MME, POPE, HallusionBench, OCRBench: ImageBaseDataset, the question alone
        assert text == question


def test_mmbench_prompt_with_its_hint_exactly(tmp_path):
    assert loaded(tmp_path, "MMBench_DEV_EN").prompt(0) == (
        "Hint: Look at the image.\nQuestion: What colour is the square?\nOptions:\n"
        "A. red\nB. green\nC. blue\nD. black\n" + MCQ_END
    )


def test_the_loader_applies_each_benchmarks_details(tmp_path):
    science = loaded(tmp_path, "ScienceQA_VAL")
    assert list(science.frame["index"]) == [10, 11, 13]  # the row without an image is left out
    hallusion = loaded(tmp_path, "HallusionBench")
    assert list(hallusion.frame["index"]) == [0, 1, 2, 3]
    assert hallusion.frame["source_index"][2] == "VD_chart_1_0_0_1"
    assert hallusion.images(2)[0].size == (28, 28)  # its image refers to VD_chart_1_0_0_0
    mme = loaded(tmp_path, "MME")
    assert (mme.metric, mme.prompt_style) == ("mme_score", "question")
    docvqa = loaded(tmp_path, "DocVQA_VAL")
    scored_with = {**metric_for(docvqa.kind, docvqa.metric).options, **docvqa.metric_options}
    assert scored_with == {"threshold": 0.5}


def test_no_benchmark_restates_its_metric_s_default_options():
    restating = [
        name
        for name, entry in DATASETS.items()
        if any(
            metric_for(entry.kind, entry.metric).options.get(k) == v
            for k, v in entry.metric_options.items()
        )
    ]
    assert restating == []
