"""Non-finite loss or gradients stop the run before a NaN model is saved (or, asked for, are skipped)."""

import json

import pytest
import torch
from helpers import train_cli
from safetensors.torch import load_file

from scale_sft.nonfinite import NonFiniteError


def test_nonfinite_step_stops_before_saving(tiny_qwen_dir, synthetic_dir, tmp_path):
    out = tmp_path / "diverged"
    with pytest.raises(NonFiniteError, match="Step 2: the loss or the gradients are not finite"):
        train_cli(tiny_qwen_dir, synthetic_dir, out, "--max_steps", "3", "--learning_rate", "1e6")
    assert not (out / "model.safetensors").exists() and not (out / "run.json").exists()


def test_nonfinite_steps_can_be_skipped(tiny_qwen_dir, synthetic_dir, tmp_path):
    out = tmp_path / "skipped"
    train_cli(
        tiny_qwen_dir, synthetic_dir, out, "--max_steps", "3", "--learning_rate", "1e6", "--nonfinite", "skip"
    )
    run = json.loads((out / "run.json").read_text())
    assert run["global_step"] == 3 and run["nonfinite_steps_skipped"] == 2  # step 1 is finite, then NaN
    assert all(torch.isfinite(w).all() for w in load_file(out / "model.safetensors").values())
