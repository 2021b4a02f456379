import json
import math

import datasets
import pytest
from transformers import AutoModelForImageTextToText

from scale_sft import ScaleSFTConfig, ScaleSFTTrainer, answer_weight
from scale_sft.data.synthetic import FEATURES, make_records
from scale_sft.schedules import AdaptiveAnswerWeight
from scale_sft.sft.collator import ScaleSFTCollator


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("cosine", {0.0: 0.2, 0.5: 0.5, 1.0: 0.8, 0.25: 0.8 + (0.2 - 0.8) * (1 + math.cos(math.pi / 4)) / 2}),
        ("linear", {0.0: 0.2, 0.5: 0.5, 1.0: 0.8, 0.25: 0.35}),
        ("constant", {0.0: 0.2, 0.5: 0.2, 1.0: 0.2}),
    ],
)
def test_values(schedule, expected):
    for progress, value in expected.items():
        assert answer_weight(progress, schedule, start=0.2, end=0.8) == pytest.approx(value, abs=1e-12)


def test_cosine_is_flat_at_the_ends_and_monotone():
    values = [answer_weight(p / 100, "cosine", 0.1, 0.9) for p in range(101)]
    assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    assert values[1] - values[0] < values[51] - values[50]  # slow start, fastest mid-way


def test_reverse_direction_and_defaults():
    assert answer_weight(1.0, "cosine", start=0.9, end=0.1) == pytest.approx(0.1)
    assert answer_weight(0.0) == pytest.approx(0.2) and answer_weight(1.0) == pytest.approx(0.8)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"progress": 1.5},
        {"progress": -0.1},
        {"progress": 0.5, "schedule": "step"},
        {"progress": 0.5, "end": 1.2},
    ],
)
def test_bad_input_raises(kwargs):
    with pytest.raises(ValueError):
        answer_weight(**kwargs)


def test_adaptive_is_not_a_function_of_progress():
    with pytest.raises(ValueError, match="AdaptiveAnswerWeight"):
        answer_weight(0.5, "adaptive")


def test_adaptive_weight_follows_the_learned_share_of_the_think_loss():
    adaptive = AdaptiveAnswerWeight(start=0.2, end=0.8, smoothing=0.5)
    assert adaptive.weight == 0.2  # nothing measured yet
    adaptive.update(think_ce_sum=40.0, think_tokens=10)  # L_0 = 4
    assert adaptive.initial == adaptive.smoothed == 4.0 and adaptive.weight == pytest.approx(0.2)
    adaptive.update(20.0, 10)  # L = 0.5 * 4 + 0.5 * 2 = 3: a quarter learned
    assert adaptive.smoothed == pytest.approx(3.0) and adaptive.weight == pytest.approx(0.2 + 0.6 * 0.25)
    adaptive.update(123.0, 0)  # a step without THINK tokens changes nothing
    assert adaptive.smoothed == pytest.approx(3.0)
    adaptive.update(0.0, 5)  # L = 1.5: 5/8 learned
    assert adaptive.weight == pytest.approx(0.2 + 0.6 * 0.625)
    adaptive.update(100.0, 2)  # the loss rises above L_0: back to start, never below
    assert adaptive.smoothed > 4.0 and adaptive.weight == pytest.approx(0.2)


def test_adaptive_reaches_end_when_the_think_loss_vanishes_and_can_run_backwards():
    adaptive = AdaptiveAnswerWeight(start=0.9, end=0.1, smoothing=0.0)
    adaptive.update(8.0, 4)
    adaptive.update(0.0, 4)
    assert adaptive.weight == pytest.approx(0.1)


@pytest.mark.parametrize("kwargs", [{"smoothing": 1.0}, {"smoothing": -0.1}, {"start": -0.1}, {"end": 1.5}])
def test_adaptive_bad_settings_raise(kwargs):
    with pytest.raises(ValueError):
        AdaptiveAnswerWeight(**kwargs)


def test_adaptive_ignores_a_non_finite_step():
    adaptive = AdaptiveAnswerWeight(smoothing=0.0)
    adaptive.update(6.0, 3)
    adaptive.update(3.0, 3)
    for bad in (float("nan"), float("inf")):
        adaptive.update(bad, 3)
    assert (adaptive.initial, adaptive.smoothed) == (2.0, 1.0) and adaptive.weight == pytest.approx(0.5)


def _trainer(model_dir, processor, dataset, out, **overrides):
    config = ScaleSFTConfig(
        **{
            "output_dir": str(out),
            "answer_weight_schedule": "adaptive",
            "answer_weight_smoothing": 0.0,
            "optim": "sgd",
            "learning_rate": 0.5,
            "lr_scheduler_type": "constant",
            "max_grad_norm": 0.0,
            "max_steps": 3,
            "logging_steps": 1,
            "save_strategy": "no",
            "report_to": "none",
            "seed": 0,
            "dataloader_num_workers": 0,
            "disable_tqdm": True,
            **overrides,
        }  # fmt: skip
    )
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    return ScaleSFTTrainer(model, args=config, train_dataset=dataset, processing_class=processor)


def _weights(trainer) -> list[float]:
    return [h["answer_weight"] for h in trainer.state.log_history if "loss" in h]


@pytest.mark.parametrize("segment_normalization", ["sample", "step"])
def test_adaptive_weight_and_compute_count_are_invariant_to_gradient_accumulation(
    segment_normalization, tiny_qwen_dir, qwen_processor, tmp_path
):
    dataset = datasets.Dataset.from_list(make_records(8, seed=3), features=FEATURES)
    before = AutoModelForImageTextToText.from_pretrained(tiny_qwen_dir).state_dict()
    weights, updates, compute = [], [], []
    for batch, accumulation in ((8, 1), (2, 4)):
        trainer = _trainer(
            tiny_qwen_dir, qwen_processor, dataset, tmp_path / f"{batch}x{accumulation}",
            per_device_train_batch_size=batch, gradient_accumulation_steps=accumulation,
            segment_normalization=segment_normalization,
        )  # fmt: skip
        trainer.train()
        weights.append(_weights(trainer))
        after = trainer.model.state_dict()
        updates.append({k: after[k] - before[k] for k in before})
        compute.append(trainer.compute_summary())
    # steps 1 and 2 train at `start` (nothing / only L_0 measured); step 3 at the learned share of step 2
    assert weights[0][:2] == [pytest.approx(0.2), pytest.approx(0.2)] and weights[0][2] > 0.2 + 1e-3
    assert weights[1] == pytest.approx(weights[0], rel=1e-5)
    full, accumulated = updates
    worst = max((full[k] - accumulated[k]).abs().max().item() for k in full)
    assert worst < 1e-5, f"max parameter-update difference {worst}"
    # 3 steps = 3 passes over the 8 records; padding (which differs between the splits) is not counted
    tokens = ScaleSFTCollator(processor=qwen_processor)(list(dataset))["attention_mask"].sum().item()
    assert compute[0]["train_tokens"] == compute[1]["train_tokens"] == 3 * tokens
    assert all(c["cpu_s"] > 0 and c["wall_s"] > 0 and c["processes"] == 1 for c in compute)


def test_adaptive_weight_resumes_exactly(tiny_qwen_dir, qwen_processor, synthetic_dir, tmp_path):
    data = datasets.load_from_disk(str(synthetic_dir))["train"].select(range(24))
    common = dict(
        optim="adamw_torch", learning_rate=1e-3, per_device_train_batch_size=2, max_steps=6,
        save_strategy="steps", save_steps=3, answer_weight_smoothing=0.5,
    )  # fmt: skip
    full = _trainer(tiny_qwen_dir, qwen_processor, data, tmp_path / "full", **common)
    full.train()
    saved = json.loads((tmp_path / "full" / "checkpoint-3" / "trainer_state.json").read_text())
    assert saved["stateful_callbacks"]["AdaptiveWeightCallback"]["attributes"]["initial"] > 0
    resumed = _trainer(tiny_qwen_dir, qwen_processor, data, tmp_path / "resumed", **common)
    resumed.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-3"))
    full_weights, resumed_weights = _weights(full), _weights(resumed)
    assert len(set(full_weights[2:])) == 4  # the weight moved at every step after the first two
    assert resumed_weights[3:] == pytest.approx(full_weights[3:], rel=1e-6)
    for key in ("initial", "smoothed"):
        assert getattr(resumed.adaptive_weight, key) == pytest.approx(
            getattr(full.adaptive_weight, key), rel=1e-6
        )
