"""The GPU benchmark's CPU smoke: the same script at tiny shapes, so it cannot rot between GPU runs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu.py"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("gpu-bench") / "results.json"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(out)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_every_case_and_variant_measured(smoke):
    assert smoke["skipped"] == []
    assert set(smoke["training"]) == {"qwen2_5_vl", "gemma3", "llava_next_lora", "qwen2_text"}
    for case, variants in smoke["training"].items():
        assert set(variants) == {"scale", "vanilla", "trl"}, case
        runs = [r for rounds in variants.values() for r in rounds]
        assert all(r["finite_loss"] and r["tokens_per_s"] > 0 and 0 <= r["padding_share"] < 1 for r in runs)
        # same records, same batch, same order: both methods of ours processed the same tokens per step, and TRL's
        # collator the same up to LLaVA's BOS, which only ours adds (the published template writes none)
        tokens = {v: {r["tokens_per_step"] for r in rounds} for v, rounds in variants.items()}
        assert tokens["scale"] == tokens["vanilla"] and len(tokens["scale"]) == 1, case
        bos = smoke["plan"]["batch"] if case.startswith("llava") else 0
        assert {t + bos for t in tokens["trl"]} == tokens["scale"], case
    assert set(smoke["group_by_length"]) == {"trl_default", "scale_grouped", "scale_default"}
    assert set(smoke["loss_op"]) == {"ours", "trl_fused", "hf_default", "naive_weighted"}


def test_ratios_and_provenance(smoke):
    ratios = smoke["ratios"]
    for case in smoke["training"]:
        assert math.isfinite(ratios[case]["throughput_vs_trl"]) and ratios[case]["throughput_vs_trl"] > 0
    assert ratios["group_by_length_speedup"] > 0
    assert {"torch", "transformers", "trl", "peft"} <= smoke["machine"].keys()
    assert smoke["plan"]["device"] == "cpu"
