"""`scale-sft demo` end to end on a test-sized budget: the four pipelines, the report, results and plots."""

import json

from scale_sft.demo import PIPELINES, REPORT_METRICS, Budget, run_demo


def test_demo_writes_report_results_and_plots(tmp_path):
    budget = Budget(n_train=40, n_test=4, sft_steps=4, grpo_steps=1, num_generations=2, max_new_tokens=12)
    results = run_demo(tmp_path, budget, seed=0)

    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved == json.loads(json.dumps(results))
    assert [r["name"] for r in saved["runs"]] == list(PIPELINES)
    assert saved["wall_clock_s"] >= sum(r["train_wall_clock_s"] for r in saved["runs"] if not r["grpo"])
    for run in saved["runs"]:
        for key in REPORT_METRICS[:-1]:
            assert key in run, key
        assert run["n"] == 4 and run["train_wall_clock_s"] > 0
        assert (tmp_path / run["name"] / "eval" / "predictions.jsonl").exists()
    by_name = {r["name"]: r for r in saved["runs"]}
    assert by_name["vanilla_sft_grpo"]["wall_clock_vs_vanilla_sft_grpo"] == 1.0
    # GRPO runs include their SFT stage, so they cost more than SFT alone
    assert by_name["scale_sft_grpo"]["train_wall_clock_s"] > by_name["scale_sft"]["train_wall_clock_s"]
    grpo_run = json.loads((tmp_path / "scale_sft_grpo" / "run.json").read_text())
    assert grpo_run["model"] == str(tmp_path / "scale_sft") and grpo_run["generated_tokens"] > 0

    report = (tmp_path / "report.md").read_text()
    assert all(name in report for name in PIPELINES) and "accuracy" in report
    for png in ("losses.png", "metrics.png", "think_lengths.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG"
