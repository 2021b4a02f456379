"""Accuracy against compute along training: checkpoint compute records, curves, compute to reach a target."""

import json

import pytest

from scale_sft.compute import COMPUTE_FILE
from scale_sft.evaluation.curves import accuracy_curve, checkpoints, compute_to_reach
from scale_sft.experiments.cost import add_reach, versus
from scale_sft.experiments.pipeline import REFERENCE, Budget
from scale_sft.experiments.stages import train_sft


def _write(path, payload):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload))


def _metrics(accuracy):
    return {"overall": {"accuracy": accuracy, "reasoning_correct_rate": accuracy / 2}}


def _fake_run(run_dir, steps, tokens, cpu, accuracies, final_step):
    """A run folder as train/grpo leave it: checkpoints with compute.json, run.json, the final eval."""
    for step, tok, c in zip(steps, tokens, cpu, strict=True):
        _write(run_dir / f"checkpoint-{step}" / COMPUTE_FILE, {"step": step, "train_tokens": tok, "cpu_s": c})
    _write(
        run_dir / "run.json",
        {"global_step": final_step, "compute": {"train_tokens": tokens[-1], "cpu_s": cpu[-1]}},
    )
    _write(run_dir / "eval" / "metrics.json", _metrics(accuracies[-1]))


def test_accuracy_curve_evaluates_each_checkpoint_once_and_places_it_on_its_compute(tmp_path):
    # checkpoints at steps 5, 10 and the final step 20 (the final model: not evaluated twice)
    run = tmp_path / "sft"
    _fake_run(run, [5, 10, 20], [100, 250, 600], [1.0, 2.5, 6.0], [None, None, 0.9], final_step=20)
    accuracies = {"checkpoint-5": 0.2, "checkpoint-10": 0.6}
    calls = []

    def evaluate(model, out):
        calls.append(model.name)
        _write(out / "metrics.json", _metrics(accuracies[model.name]))

    curve = accuracy_curve(run, evaluate)
    assert calls == ["checkpoint-5", "checkpoint-10"]
    assert curve == [
        {"step": 5, "tokens": 100, "cpu_s": 1.0, "accuracy": 0.2, "reasoning_correct_rate": 0.1},
        {"step": 10, "tokens": 250, "cpu_s": 2.5, "accuracy": 0.6, "reasoning_correct_rate": 0.3},
        {"step": 20, "tokens": 600, "cpu_s": 6.0, "accuracy": 0.9, "reasoning_correct_rate": 0.45},
    ]
    assert accuracy_curve(run, evaluate) == curve and len(calls) == 2  # resumed: evaluations are reused

    # a GRPO stage continues the SFT curve: its compute (with generated tokens) adds to the SFT stage's total
    grpo = tmp_path / "grpo"
    _write(
        grpo / "checkpoint-2" / COMPUTE_FILE,
        {"step": 2, "train_tokens": 40, "generated_tokens": 10, "cpu_s": 3.0},
    )
    _write(grpo / "checkpoint-2" / "eval" / "metrics.json", _metrics(0.8))
    _write(
        grpo / "run.json",
        {"global_step": 4, "compute": {"train_tokens": 80, "generated_tokens": 20, "cpu_s": 7.0}},
    )
    _write(grpo / "eval" / "metrics.json", _metrics(1.0))
    extended = accuracy_curve(grpo, evaluate, before=curve)
    assert extended[:3] == curve
    assert [(p["step"], p["tokens"], p["cpu_s"], p["accuracy"]) for p in extended[3:]] == [
        (2, 650, 9.0, 0.8),
        (4, 700, 13.0, 1.0),
    ]


def test_checkpoints_ignore_folders_without_a_compute_record_and_sort_by_step(tmp_path):
    for step in (100, 20, 3):
        _write(tmp_path / f"checkpoint-{step}" / COMPUTE_FILE, {"step": step})
    (tmp_path / "checkpoint-7").mkdir()
    assert [p.name for p in checkpoints(tmp_path)] == ["checkpoint-3", "checkpoint-20", "checkpoint-100"]


def test_compute_to_reach_is_the_first_point_at_or_above_the_target():
    curve = [
        {"tokens": 10, "cpu_s": 1.0, "accuracy": 0.3},
        {"tokens": 20, "cpu_s": 2.0, "accuracy": 0.7},
        {"tokens": 30, "cpu_s": 3.0, "accuracy": 0.6},
        {"tokens": 40, "cpu_s": 4.0, "accuracy": 0.9},
    ]
    assert compute_to_reach(curve, 0.7) == 20
    assert compute_to_reach(curve, 0.65, "cpu_s") == 2.0
    assert compute_to_reach(curve, 0.8) == 40
    assert compute_to_reach(curve, 0.95) is None


def test_add_reach_measures_each_pipeline_against_sft_grpo_reaching_its_own_final_accuracy():
    runs = [
        {
            "name": "scale_sft",
            "curve": [
                {"tokens": 10, "cpu_s": 1.0, "accuracy": 0.5},
                {"tokens": 20, "cpu_s": 3.0, "accuracy": 0.8},
            ],
        },
        {"name": "vanilla_sft", "curve": [{"tokens": 20, "cpu_s": 2.0, "accuracy": 0.6}]},
        {
            "name": REFERENCE.name,
            "accuracy": 0.75,
            # reaches its own final accuracy only at its last point, after its SFT stage's points
            "curve": [
                {"tokens": 20, "cpu_s": 2.0, "accuracy": 0.6},
                {"tokens": 80, "cpu_s": 12.0, "accuracy": 0.75},
            ],
        },
    ]
    add_reach(runs)
    scale, vanilla, reference = runs
    assert scale["target_accuracy"] == 0.75 and scale["tokens_to_target"] == 20
    assert scale[versus("tokens_to_target")] == pytest.approx(20 / 80)
    assert scale[versus("cpu_s_to_target")] == pytest.approx(3.0 / 12.0)
    assert vanilla["tokens_to_target"] is None and vanilla[versus("tokens_to_target")] is None
    assert reference[versus("tokens_to_target")] == 1.0


def test_a_checkpoint_records_the_compute_a_run_of_that_many_steps_spends(
    tiny_qwen_dir, synthetic_dir, tmp_path
):
    """Same seed, same data order: the 4-step run's step-2 checkpoint has counted exactly the tokens that a
    2-step run counts in all, and its CPU seconds lie between nothing and the full run's."""
    long_budget = Budget(n_train=64, sft_steps=4, checkpoints=1)
    train_sft(tiny_qwen_dir, synthetic_dir, tmp_path / "long", "scale", long_budget, seed=0)
    train_sft(
        tiny_qwen_dir, synthetic_dir, tmp_path / "short", "scale", Budget(n_train=64, sft_steps=2), seed=0
    )

    saved = json.loads((tmp_path / "long" / "checkpoint-2" / COMPUTE_FILE).read_text())
    final = json.loads((tmp_path / "long" / "run.json").read_text())["compute"]
    short = json.loads((tmp_path / "short" / "run.json").read_text())["compute"]
    assert saved["step"] == 2 and saved["processes"] == 1
    assert saved["train_tokens"] == short["train_tokens"] > 0
    assert final["train_tokens"] > saved["train_tokens"]
    assert 0 < saved["cpu_s"] < final["cpu_s"]
    assert not list((tmp_path / "short").glob("checkpoint-*"))  # no checkpoints unless asked
    assert (tmp_path / "long" / "checkpoint-2" / "model.safetensors").is_file()
    assert not (tmp_path / "long" / "checkpoint-2" / "optimizer.pt").exists()  # model-only checkpoints
