"""`scale-sft demo` end to end on a test-sized budget: the four pipelines, the report, results and plots."""

import json

import pytest
import torch
import transformers
import trl

from scale_sft.demo import PIPELINES, REFERENCE, REPORT_METRICS, Budget, run_demo

pytestmark = pytest.mark.integration  # runs the demo's pipelines


def test_demo_writes_report_results_and_plots(tmp_path):
    budget = Budget(
        n_train=40, n_test=4, sft_steps=4, grpo_steps=2, num_generations=2, max_new_tokens=12, checkpoints=1
    )
    results = run_demo(tmp_path, budget, seed=0)

    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert [r["name"] for r in saved["runs"]] == list(PIPELINES)
    assert saved["wall_clock_s"] >= sum(r["train_wall_clock_s"] for r in saved["runs"] if not r["grpo"])
    for run in saved["runs"]:
        for key in REPORT_METRICS:
            assert key in run, key
        assert run["n"] == 4 and run["train_wall_clock_s"] > 0 and run["train_cpu_s"] > 0
        assert (tmp_path / run["name"] / "eval" / "predictions.jsonl").exists()
    by_name = {r["name"]: r for r in saved["runs"]}
    for key in ("tokens", "cpu_s", "wall_clock"):
        assert by_name[REFERENCE][f"{key}_vs_{REFERENCE}"] == 1.0

    # compute: each pipeline's cost is what its stages' run.json record; GRPO adds to its SFT stage
    sft_run = json.loads((tmp_path / "scale_sft" / "run.json").read_text())["compute"]
    grpo_run = json.loads((tmp_path / "scale_sft_grpo" / "run.json").read_text())
    assert grpo_run["model"] == str(tmp_path / "scale_sft")
    grpo_compute = grpo_run["compute"]
    assert sft_run["train_tokens"] > 0 and grpo_compute["generated_tokens"] > 0
    assert grpo_compute["generated_tokens"] == grpo_run["generated_tokens"]
    # the policy pass sees every prompt token too, so it processes more tokens than were generated
    assert grpo_compute["train_tokens"] > grpo_compute["generated_tokens"]
    scale, scale_grpo = by_name["scale_sft"], by_name["scale_sft_grpo"]
    assert scale["train_tokens"] == sft_run["train_tokens"]
    assert scale_grpo["train_tokens"] == (
        sft_run["train_tokens"] + grpo_compute["train_tokens"] + grpo_compute["generated_tokens"]
    )
    assert scale_grpo["train_cpu_s"] == pytest.approx(sft_run["cpu_s"] + grpo_compute["cpu_s"])
    ratio = scale["train_tokens"] / by_name[REFERENCE]["train_tokens"]
    assert scale[f"tokens_vs_{REFERENCE}"] == pytest.approx(ratio) and 0 < ratio < 1

    # accuracy against compute: each stage's step-2 checkpoint evaluated, then its final model; a GRPO curve
    # continues its SFT stage's on the compute spent from scratch
    for run in saved["runs"]:
        curve = run["curve"]
        assert [p["step"] for p in curve] == ([2, 4, 1, 2] if run["grpo"] else [2, 4])
        assert curve[-1]["tokens"] == run["train_tokens"] and curve[-1]["accuracy"] == run["accuracy"]
        assert curve[-1]["cpu_s"] == pytest.approx(run["train_cpu_s"])
        assert all(a["tokens"] < b["tokens"] for a, b in zip(curve, curve[1:], strict=False))
        if run["grpo"]:
            assert curve[:2] == by_name[run["sft_stage"]]["curve"]
        checkpoint = tmp_path / run["name"] / ("checkpoint-1" if run["grpo"] else "checkpoint-2")
        assert (
            json.loads((checkpoint / "eval" / "metrics.json").read_text())["overall"]["accuracy"]
            == curve[-2]["accuracy"]
        )
    grpo_checkpoint = json.loads((tmp_path / "scale_sft_grpo" / "checkpoint-1" / "compute.json").read_text())
    assert 0 < grpo_checkpoint["generated_tokens"] < grpo_compute["generated_tokens"]
    assert scale["target_accuracy"] == by_name[REFERENCE]["accuracy"]

    report = (tmp_path / "report.md").read_text()
    assert "SFT + GRPO's final accuracy" in report
    assert f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}" in report
    assert saved["versions"] == json.loads((tmp_path / "scale_sft" / "run.json").read_text())["versions"]
    assert all(name in report for name in PIPELINES) and "accuracy" in report
    assert f"SCALe-SFT / (SFT + GRPO) compute: {ratio:.3f} in tokens" in report
    assert "accuracy_compute.png" in report
    for png in ("losses.png", "metrics.png", "think_lengths.png", "accuracy_compute.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
