"""The ``scale-sft grpo`` recipe: a gold answer the accuracy reward cannot read is decided before anything is
generated, under the same rule evaluation uses; generation through vLLM (``pip install "scale-sft[vllm]"``,
GPU only) is configured from the example recipe and the command line, as far as TRL's vLLM backend."""

from pathlib import Path

import datasets
import pytest
import torch
import trl.trainer.grpo_trainer
from helpers import QUIET

from scale_sft.answers import validate_gold
from scale_sft.cli import main
from scale_sft.data.loading import DataError
from scale_sft.data.prepare import prepare_dataset
from scale_sft.data.synthetic import FEATURES, make_records


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


RECIPE = Path(__file__).resolve().parents[1] / "examples" / "qwen2_5_vl_3b_grpo.yaml"


class _VLLMReached(Exception):
    """Raised by the stand-in for TRL's vLLM backend once it has its settings (no engine on this machine)."""


@pytest.mark.parametrize("mode", ["colocate", "server"])
def test_vllm_settings_reach_trls_vllm_backend(mode, tiny_qwen_dir, synthetic_dir, tmp_path, monkeypatch):
    """The example recipe with ``use_vllm`` (command line over YAML) builds TRL's vLLM generation with these
    settings; the engine itself needs a GPU, so the stand-in stops the run there."""
    received = {}

    def vllm_generation(**kwargs):
        received.update(kwargs)
        raise _VLLMReached

    monkeypatch.setattr(trl.trainer.grpo_trainer, "VLLMGeneration", vllm_generation)
    cpu = [] if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else ["--bf16", "false"]
    with pytest.raises(_VLLMReached):
        main(["grpo", "--config", str(RECIPE), "--model", str(tiny_qwen_dir), "--dataset", str(synthetic_dir),
              "--output_dir", str(tmp_path / "grpo"), "--dtype", "float32", "--per_device_train_batch_size", "4",
              "--num_generations", "4", "--use_vllm", "true", "--vllm_mode", mode,
              "--vllm_gpu_memory_utilization", "0.4", "--vllm_server_port", "8123", *cpu])  # fmt: skip
    assert received["mode"] == mode and received["gpu_memory_utilization"] == 0.4
    assert received["server_port"] == 8123
    # batch 4 (command line over the recipe's 8) x tensor-parallel size 1 x steps per generation 4 (the
    # recipe's gradient_accumulation_steps); the recipe's sampling settings
    assert received["max_num_seqs"] == 4 * 1 * 4
    assert received["max_completion_length"] == 2048 and received["temperature"] == 1.0
