"""GRPO's record check: a gold answer the accuracy reward cannot read is decided before anything is generated,
under the same rule evaluation uses."""

import datasets
import pytest
from helpers import QUIET

from scale_sft.cli import main
from scale_sft.data.loading import DataError
from scale_sft.data.prepare import prepare_dataset
from scale_sft.data.synthetic import FEATURES, make_records
from scale_sft.evaluation.answers import validate_gold


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
