"""Runs that go wrong say so (issue 14): GRPO gold answers checked before generation, LoRA bases verified,
non-finite steps stopped or skipped, another run's output directory not overwritten."""

import json

import datasets
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText

from scale_sft.cli import main
from scale_sft.data.loading import DataError
from scale_sft.data.prepare import prepare_dataset
from scale_sft.data.synthetic import FEATURES, make_records
from scale_sft.evaluation.answers import validate_gold
from scale_sft.models.loading import load_model_and_processor, model_fingerprint
from scale_sft.models.tiny import make_tiny_model
from scale_sft.nonfinite import NonFiniteError

QUIET = ["--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--logging_steps", "1"]


def _train(model, data, out, *flags):
    main(["train", "--model", str(model), "--dataset", str(data), "--output_dir", str(out),
          "--per_device_train_batch_size", "2", *QUIET, *flags])  # fmt: skip


# Item 4: a gold answer the accuracy reward cannot read is decided before GRPO generates anything.


@pytest.mark.parametrize(
    ("gold", "reason"),
    [
        ({"answer": "B", "answer_type": "multiple_choice", "choices": ["x", "y"]}, None),
        ({"answer": "3", "answer_type": "numeric"}, None),
        ({"answer": "a cat", "answer_type": "free_text"}, None),
        ({"answer": None, "answer_type": "numeric"}, "no gold answer"),
        ({"answer": "  ", "answer_type": "free_text"}, "no gold answer"),
        ({"answer": "3", "answer_type": "number"}, "unknown answer_type"),
        ({"answer": "C", "answer_type": "multiple_choice", "choices": ["x", "y"]}, "gold answer unreadable"),
        ({"answer": "AB", "answer_type": "multiple_choice", "choices": ["x", "y"]}, "gold answer unreadable"),
        ({"answer": "three or four", "answer_type": "numeric"}, "gold answer unreadable"),
    ],
)  # fmt: skip
def test_gold_check_shared_with_evaluation(gold, reason):
    """GRPO skips exactly the records evaluation could not score: one rule, ``validate_gold``."""
    assert validate_gold(gold) == reason


@pytest.fixture
def bad_gold_dir(tmp_path):
    records = make_records(4, seed=0)
    records[1] |= {"answer": "unknown", "answer_type": "numeric", "choices": [], "id": "bad-gold"}
    out = tmp_path / "bad_gold"
    datasets.Dataset.from_list(records, features=FEATURES).save_to_disk(out)
    return out


def test_grpo_gold_is_checked_before_generation(bad_gold_dir, tiny_qwen_dir, qwen_processor, tmp_path):
    _, report = prepare_dataset(datasets.load_from_disk(bad_gold_dir), qwen_processor, check=validate_gold)
    assert report.kept == 3 and report.skipped == {"gold answer unreadable": 1}
    with pytest.raises(DataError, match=r"Record 1 \(id bad-gold\): gold answer unreadable"):
        main(["grpo", "--model", str(tiny_qwen_dir), "--dataset", str(bad_gold_dir), "--output_dir",
              str(tmp_path / "grpo"), "--malformed", "error", "--max_steps", "1", "--num_generations", "2",
              "--per_device_train_batch_size", "2", "--max_completion_length", "8", *QUIET])  # fmt: skip
    assert not (tmp_path / "grpo" / "run.json").exists()


# Item 6: a LoRA output names its base by absolute path, and a different model at that path is refused.


def test_lora_base_is_absolute_and_verified(tmp_path, monkeypatch, synthetic_dir):
    base = make_tiny_model(tmp_path / "models" / "base", arch="qwen2_5_vl", seed=0)
    monkeypatch.chdir(tmp_path)
    _train("models/base", synthetic_dir, "lora", "--max_steps", "1", "--use_peft", "--lora_r", "4",
           "--lora_target_modules", "q_proj", "v_proj")  # fmt: skip
    adapter = tmp_path / "lora"
    recorded = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert recorded == str(base.resolve())
    run = json.loads((adapter / "run.json").read_text())
    assert run["base_model"] == {"path": str(base.resolve()), "fingerprint": model_fingerprint(str(base))}

    # From another working directory where `models/base` is another model, the recorded base is used.
    other = make_tiny_model(tmp_path / "elsewhere" / "models" / "base", arch="qwen2_5_vl", seed=1)
    monkeypatch.chdir(tmp_path / "elsewhere")
    merged, _ = load_model_and_processor(str(adapter))
    weights = {path: AutoModelForImageTextToText.from_pretrained(path).state_dict() for path in (base, other)}
    embed = next(k for k in weights[base] if "embed_tokens" in k)  # not a LoRA target: the base's own weight
    assert torch.equal(merged.state_dict()[embed], weights[base][embed])
    assert not torch.equal(weights[base][embed], weights[other][embed])

    # The base replaced by a model with the same config but other weights: refused, not merged silently.
    make_tiny_model(base, arch="qwen2_5_vl", seed=1)
    with pytest.raises(ValueError, match="differs"):
        load_model_and_processor(str(adapter))


# Item 11: non-finite loss or gradients stop the run before a NaN model is saved (or, asked for, are skipped).


def test_nonfinite_step_stops_before_saving(tiny_qwen_dir, synthetic_dir, tmp_path):
    out = tmp_path / "diverged"
    with pytest.raises(NonFiniteError, match="Step 2: the loss or the gradients are not finite"):
        _train(tiny_qwen_dir, synthetic_dir, out, "--max_steps", "3", "--learning_rate", "1e6")
    assert not (out / "model.safetensors").exists() and not (out / "run.json").exists()


def test_nonfinite_steps_can_be_skipped(tiny_qwen_dir, synthetic_dir, tmp_path):
    out = tmp_path / "skipped"
    _train(
        tiny_qwen_dir, synthetic_dir, out, "--max_steps", "3", "--learning_rate", "1e6", "--nonfinite", "skip"
    )
    run = json.loads((out / "run.json").read_text())
    assert run["global_step"] == 3 and run["nonfinite_steps_skipped"] == 2  # step 1 is finite, then NaN
    assert all(torch.isfinite(w).all() for w in load_file(out / "model.safetensors").values())


# Item 12: an output directory holding another run is refused unless resuming or overwriting.


def test_output_dir_of_another_run_is_refused(trained_qwen_dir, synthetic_dir, tmp_path):
    before = sorted(p.name for p in trained_qwen_dir.iterdir())
    for command in ("train", "grpo"):
        with pytest.raises(FileExistsError, match="--overwrite_output_dir"):
            main([command, "--model", str(trained_qwen_dir), "--dataset", str(synthetic_dir), "--output_dir",
                  str(trained_qwen_dir), "--max_steps", "1", *QUIET])  # fmt: skip
    assert sorted(p.name for p in trained_qwen_dir.iterdir()) == before
