"""Smoke test of ``benchmarks/run.py``: the smallest settings, every variant in its own subprocess."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"

LOSS_FIELDS = {"time_s", "times_s", "peak_mb", "peaks_mb", "baseline_mb", "hwm_reset", "loss"}
TRAIN_FIELDS = LOSS_FIELDS - {"loss"} | {"tokens_per_s", "compute_tokens_per_s", "tokens_per_step", "params"}


@pytest.mark.slow
def test_runner_small_writes_results(tmp_path):
    # timings are meaningless with --jobs 2; the test checks the plumbing, the fields and the gradients
    cmd = [sys.executable, str(RUNNER), "--small", "--jobs", "2", "--out", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    results = json.loads((tmp_path / "results.json").read_text())
    for key in ("command", "machine", "memory_method", "loss_op", "train", "gradient", "goals", "notes"):
        assert key in results, key
    for key in ("cpu", "cores", "torch", "transformers", "trl"):
        assert results["machine"][key], key

    loss = results["loss_op"]
    assert set(loss["variants"]) >= {"ours", "trl_fused", "hf_default", "naive_weighted"}
    for name, variant in loss["variants"].items():
        assert set(variant) >= LOSS_FIELDS, name
        assert variant["time_s"] > 0 and len(variant["times_s"]) >= 1, name
    # the four variants compute on the same data: (a)/(c) are token means, ours/(b) the same SCALe loss
    variants = loss["variants"]
    assert variants["ours"]["loss"] == pytest.approx(variants["naive_weighted"]["loss"], rel=1e-5)
    assert variants["trl_fused"]["loss"] == pytest.approx(variants["hf_default"]["loss"], rel=1e-5)
    assert set(loss["ratios"]) == {"hf_default", "naive_weighted", "trl_fused"}

    assert results["train"], "no training benchmark"
    for model, res in results["train"].items():
        assert set(res["variants"]) == {"scale", "vanilla", "trl"}, model
        for name, variant in res["variants"].items():
            assert set(variant) >= TRAIN_FIELDS, (model, name)
            assert variant["tokens_per_s"] > 0, (model, name)
            assert variant["same_input_ids_as_scale_collator"], (model, name)
        # the same model and the same batches for every trainer
        assert len({v["param_checksum"] for v in res["variants"].values()}) == 1
        assert len({v["tokens_per_step"] for v in res["variants"].values()}) == 1
        assert {"throughput", "memory"} <= set(res["ratios"]["trl"])

    gradient = results["gradient"]
    assert gradient["max_abs_diff"] <= 1e-5
    assert gradient["distinct_token_weights"] > 2  # non-uniform weights
    assert abs(gradient["loss_fused"] - gradient["loss_reference"]) <= 1e-5

    goals = results["goals"]
    assert len(goals) == 6 and all({"name", "value", "threshold", "met"} <= set(g) for g in goals)

    report = (tmp_path / "RESULTS.md").read_text()
    for heading in ("## Machine and command", "## Goals", "## Loss op", "## Training step", "## Gradients"):
        assert heading in report, heading
    assert "benchmarks/run.py --small" in report
