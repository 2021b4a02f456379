"""The published architectures rebuilt from a tiny model's config have exactly the published checkpoints'
parameter counts (built on the meta device: shapes only, no memory)."""

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

from scale_sft.models.published import published_config
from scale_sft.models.tiny import TEXT_ARCHITECTURES, make_tiny_model

pytestmark = pytest.mark.integration

# the parameter counts of Qwen2.5-VL-3B-Instruct, gemma-3-4b-it, llava-v1.6-mistral-7b-hf, SmolLM2-135M-Instruct
PARAMETERS = {"qwen2_5_vl": 3_754_622_976, "gemma3": 4_300_079_472, "llava_next": 7_566_747_648,
              "qwen2_text": 134_515_008}  # fmt: skip


@pytest.mark.parametrize("arch", list(PARAMETERS))
def test_published_sizes(arch, tmp_path):
    config = published_config(arch, AutoConfig.from_pretrained(make_tiny_model(tmp_path / arch, arch=arch)))
    auto = AutoModelForCausalLM if arch in TEXT_ARCHITECTURES else AutoModelForImageTextToText
    with torch.device("meta"):
        model = auto.from_config(config)
    assert sum(p.numel() for p in model.parameters()) == PARAMETERS[arch]
