"""GRPO generation through vLLM (``pip install "scale-sft[vllm]"``): the recipe with ``use_vllm`` parses with
``scale-sft grpo``'s own command line and reaches TRL's ``GRPOConfig``. The engine itself needs a GPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from scale_sft.cli import command_parser
from scale_sft.grpo.grpo_config import ScaleGRPOConfig

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "qwen2_5_vl_3b_grpo.yaml"
BF16_OK = torch.cuda.is_available() and torch.cuda.is_bf16_supported()


@pytest.mark.parametrize("mode", ["colocate", "server"])
def test_grpo_recipe_with_vllm_reaches_trl(mode, tmp_path):
    vllm = ["--use_vllm", "true", "--vllm_mode", mode, "--vllm_gpu_memory_utilization", "0.4"]
    script_args, config, _ = command_parser("grpo").parse_args_and_config(  # parse only, no model
        ["--config", str(RECIPE), *vllm, "--output_dir", str(tmp_path)]
        + ([] if BF16_OK else ["--bf16", "false"])
    )
    assert isinstance(config, ScaleGRPOConfig)
    assert config.use_vllm is True and config.vllm_mode == mode
    assert config.vllm_gpu_memory_utilization == 0.4
    # the rest of the recipe is unchanged
    assert script_args.model == "runs/qwen2_5_vl_3b_scale" and config.num_generations == 8
    assert config.rewards == ["format", "accuracy"]
