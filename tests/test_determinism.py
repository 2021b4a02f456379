"""The same command twice on one machine (same threads) gives the same numbers, bit for bit: the demo's SFT,
GRPO (sampled completions) and evaluation stages, at a test-sized budget."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from scale_sft.demo import Budget, evaluate_run, train_grpo, train_sft

BUDGET = Budget(n_train=40, n_test=6, sft_steps=4, grpo_steps=2, num_generations=2, max_new_tokens=24)
CLOCK_KEYS = ("runtime", "per_second", "time")  # seconds measured: information, never compared


def pipeline(model: Path, data: Path, out: Path) -> dict:
    """SCALe-SFT, then GRPO from it, then evaluation; what each stage left that must repeat exactly."""
    train_sft(model, data, out / "sft", "scale", BUDGET, seed=0)
    train_grpo(out / "sft", data, out / "grpo", BUDGET, seed=0)
    evaluate_run(out / "grpo", data, out / "eval", BUDGET)
    logs = {
        stage: [
            {k: v for k, v in entry.items() if not any(c in k for c in CLOCK_KEYS)}
            for entry in json.loads((out / stage / "trainer_state.json").read_text())["log_history"]
        ]
        for stage in ("sft", "grpo")
    }
    return {
        "logs": logs,
        "weights": {stage: load_file(out / stage / "model.safetensors") for stage in ("sft", "grpo")},
        # "run" holds the output path and the generation's wall-clock
        "metrics": {k: v for k, v in json.loads((out / "eval" / "metrics.json").read_text()).items() if k != "run"},
        "predictions": (out / "eval" / "predictions.jsonl").read_text(),
    }


def test_same_command_twice_gives_identical_metrics_and_weights(tiny_qwen_dir, synthetic_dir, tmp_path):
    first = pipeline(tiny_qwen_dir, synthetic_dir, tmp_path / "first")
    second = pipeline(tiny_qwen_dir, synthetic_dir, tmp_path / "second")

    assert len(first["logs"]["sft"]) > 1 and "loss_think" in first["logs"]["sft"][0]
    assert first["logs"] == second["logs"]
    assert first["metrics"] == second["metrics"] and first["predictions"] == second["predictions"]
    initial = load_file(tiny_qwen_dir / "model.safetensors")
    for stage in ("sft", "grpo"):
        a, b = first["weights"][stage], second["weights"][stage]
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), stage
    assert any(not torch.equal(initial[k], first["weights"]["sft"][k]) for k in initial)  # training moved them
