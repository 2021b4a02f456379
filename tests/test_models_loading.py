"""Loading a trained output: a LoRA adapter names its base by absolute path, and a different model at that path is
refused."""

import json

import pytest
import torch
from helpers import train_cli
from transformers import AutoModelForImageTextToText

from scale_sft.models.loading import load_model_and_processor, model_fingerprint
from scale_sft.models.tiny import make_tiny_model

pytestmark = pytest.mark.integration  # builds models and trains a LoRA adapter


def test_lora_base_is_absolute_and_verified(tmp_path, monkeypatch, synthetic_dir):
    base = make_tiny_model(tmp_path / "models" / "base", arch="qwen2_5_vl", seed=0)
    monkeypatch.chdir(tmp_path)
    train_cli("models/base", synthetic_dir, "lora", "--max_steps", "1", "--use_peft", "--lora_r", "4",
           "--lora_target_modules", "q_proj", "v_proj")  # fmt: skip
    adapter = tmp_path / "lora"
    recorded = json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert recorded == str(base.resolve())
    run = json.loads((adapter / "run.json").read_text())
    assert run["base_model"] == {"path": str(base.resolve()), "fingerprint": model_fingerprint(str(base))}

    # From another working directory where `models/base` is another model, the recorded base is used.
    other = make_tiny_model(tmp_path / "elsewhere" / "models" / "base", arch="qwen2_5_vl", seed=1)
    monkeypatch.chdir(tmp_path / "elsewhere")
    merged, _ = load_model_and_processor(str(adapter))
    weights = {path: AutoModelForImageTextToText.from_pretrained(path).state_dict() for path in (base, other)}
    embed = next(k for k in weights[base] if "embed_tokens" in k)  # not a LoRA target: the base's own weight
    assert torch.equal(merged.state_dict()[embed], weights[base][embed])
    assert not torch.equal(weights[base][embed], weights[other][embed])

    # The base replaced by a model with the same config but other weights: refused, not merged silently.
    make_tiny_model(base, arch="qwen2_5_vl", seed=1)
    with pytest.raises(ValueError, match="differs"):
        load_model_and_processor(str(adapter))
