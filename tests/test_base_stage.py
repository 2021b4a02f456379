"""The pretrained base stage: its data (no traces), built once per seed and settings, reused by every pipeline."""

import json

import datasets
import pytest

from scale_sft.data.synthetic import describe_scene
from scale_sft.experiments import stages
from scale_sft.experiments.base import DESCRIBE, base_dir, base_records, save_base_data
from scale_sft.experiments.pipeline import BaseStage, Budget, paper_pipelines
from scale_sft.tags import DEFAULT_TAGS


def _text(message):
    return "".join(part.get("text", "") for part in message["content"])


def test_base_records_describe_and_answer_directly_without_traces():
    records = base_records(5, seed=3, split="train")
    assert len(records) == 10
    for direct, describe in zip(records[::2], records[1::2], strict=True):
        for record in (direct, describe):
            prompt, completion = (_text(m) for m in record["messages"])
            assert DEFAULT_TAGS.think_start not in prompt + completion and "step by step" not in prompt
            assert record["images"] == direct["images"]
        assert _text(direct["messages"][1]) == f"<answer>{direct['answer']}</answer>"
        assert _text(direct["messages"][0]).startswith(direct["question"])
        description = " ".join(describe_scene(json.loads(describe["scene"])))
        assert _text(describe["messages"][1]) == f"<answer>{description}</answer>"
        assert _text(describe["messages"][0]).startswith(DESCRIBE)
    assert base_records(5, seed=3, split="test", describe=False) == base_records(5, 3, "test")[::2]
    assert base_records(5, seed=3, split="train")[0]["answer"] == records[0]["answer"]  # seeded


def test_base_data_has_a_test_split_of_direct_answers(tmp_path):
    save_base_data(tmp_path / "data", BaseStage(n_scenes=4, n_test=3), seed=0)
    data = datasets.load_from_disk(str(tmp_path / "data"))
    assert (data["train"].num_rows, data["test"].num_rows) == (8, 3)
    assert set(data["test"]["question_type"]) <= {"count_color", "count_empty", "more_than", "which_color"}


def test_the_base_is_built_once_per_seed_and_settings_and_every_pipeline_starts_from_it(
    tiny_qwen_dir, synthetic_dir, tmp_path, monkeypatch
):
    trained = []
    train_sft = stages.train_sft

    def counting_train_sft(model, data, out, *args, **kwargs):
        trained.append((model, out))
        train_sft(model, data, out, *args, **kwargs)

    monkeypatch.setattr(stages, "train_sft", counting_train_sft)
    model = tmp_path / "tiny"
    model.symlink_to(tiny_qwen_dir, target_is_directory=True)
    base = BaseStage(steps=2, n_scenes=8, n_test=2)
    budget = Budget(n_train=16, n_test=2, sft_steps=2, max_new_tokens=8)
    vanilla, scale, *_ = paper_pipelines(base)
    rows = [stages.pipeline_row(tmp_path, s, model, synthetic_dir, budget, seed=0) for s in (vanilla, scale)]

    built = base_dir(model, base, seed=0)
    assert trained == [(model, built), (built, tmp_path / "vanilla_sft"), (built, tmp_path / "scale_sft")]
    for stage in (vanilla, scale):
        assert json.loads((tmp_path / stage.name / "run.json").read_text())["model"] == str(built)
    assert json.loads((built / "eval" / "metrics.json").read_text())["overall"]["n"] == 2
    # the base's cost is shared, not the pipeline's: its row counts its own stage only
    assert (
        rows[0]["train_tokens"]
        == json.loads((tmp_path / "vanilla_sft" / "run.json").read_text())["compute"]["train_tokens"]
    )
    assert base_dir(model, BaseStage(steps=3, n_scenes=8, n_test=2), seed=0) != built
    assert base_dir(model, base, seed=1) != built
    with pytest.raises(ValueError, match="continues an SFT stage"):
        stages.Stage("grpo_on_base", "grpo", after=base)
