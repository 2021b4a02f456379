"""The example recipes parse into the configs they are for, without downloading anything.

``bf16: true`` in a recipe makes ``TrainingArguments`` raise on a machine without a bf16 GPU ("Your setup
doesn't support bf16/gpu"), so on CPU the recipes are parsed with a ``--bf16 false`` command-line override
(command line over YAML, as users would) and the YAML value is checked on its own.
"""

import re
from pathlib import Path

import pytest
import torch
import yaml
from accelerate.commands.config.config_args import load_config_from_file
from trl import ModelConfig, TrlParser, get_peft_config

from scale_sft.grpo.grpo_config import ScaleGRPOConfig
from scale_sft.grpo.recipe import GRPOArguments
from scale_sft.sft.recipe import TrainArguments
from scale_sft.sft.sft_config import ScaleSFTConfig

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MODELS = {
    "qwen2_5_vl_3b": "Qwen/Qwen2.5-VL-3B-Instruct",
    "llava_v1_6_mistral_7b": "llava-hf/llava-v1.6-mistral-7b-hf",
    "gemma3_4b": "google/gemma-3-4b-it",
}
TEXT_MODELS = {"qwen2_5_1_5b_text": "Qwen/Qwen2.5-1.5B-Instruct"}  # text-only: SCALe recipes, full and LoRA
DATASETS = {
    **dict.fromkeys(MODELS, "data/vision_r1_cold"),
    **dict.fromkeys(TEXT_MODELS, "open-r1/OpenR1-Math-220k"),
}
SFT_RECIPES = sorted(p for p in EXAMPLES.glob("*.yaml") if not p.stem.endswith("_grpo"))
GRPO_RECIPES = sorted(EXAMPLES.glob("*_grpo.yaml"))
ACCELERATE = sorted((EXAMPLES / "accelerate").glob("*.yaml"))
BF16_OK = torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _overrides(tmp_path):
    return ["--output_dir", str(tmp_path)] + ([] if BF16_OK else ["--bf16", "false"])


def test_every_model_has_every_recipe():
    names = {p.stem for p in EXAMPLES.glob("*.yaml")}
    for key in MODELS:
        for variant in ("scale", "vanilla", "scale_lora", "vanilla_lora", "grpo"):
            assert f"{key}_{variant}" in names
    for key in TEXT_MODELS:
        assert {f"{key}_scale", f"{key}_scale_lora"} <= names
    assert {p.stem for p in ACCELERATE} == {"ddp", "fsdp", "zero3"}


@pytest.mark.parametrize("path", SFT_RECIPES, ids=lambda p: p.stem)
def test_sft_recipe_parses(path, tmp_path):
    raw = yaml.safe_load(path.read_text())
    assert raw["bf16"] is True and raw["activation_checkpointing"] is True
    assert {"answer_weight_schedule", "answer_weight_start", "answer_weight_end"} <= set(raw)

    parser = TrlParser((TrainArguments, ScaleSFTConfig, ModelConfig))
    script_args, config, model_args = parser.parse_args_and_config(
        args=["--config", str(path), *_overrides(tmp_path)]
    )
    models = {**MODELS, **TEXT_MODELS}
    key = next(k for k in models if path.stem.startswith(k))
    assert script_args.model == models[key] and script_args.dataset == DATASETS[key]
    assert config.loss_method == ("scale" if "_scale" in path.stem else "vanilla")
    assert (config.answer_weight_schedule, config.answer_weight_start, config.answer_weight_end) == (
        "cosine",
        0.2,
        0.8,
    )
    assert config.output_dir == str(tmp_path) and config.activation_checkpointing
    assert config.num_train_epochs == 1 and 0 < config.learning_rate <= 2e-4 and config.max_length >= 4096
    if key == "qwen2_5_vl_3b":  # an image of the most pixels allowed still fits in max_length
        assert script_args.max_pixels // (28 * 28) <= config.max_length // 2
    if key in TEXT_MODELS:  # no image options for a text-only model
        assert script_args.processor_options() == {} and not config.freeze_vision_tower
    lora = path.stem.endswith("_lora")
    assert model_args.use_peft is lora
    assert model_args.dtype == ("bfloat16" if lora else "float32")
    assert (get_peft_config(model_args) is not None) is lora


def _linear_names(model) -> list[str]:
    return [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]


def _meta_model(arch: str):
    """A tiny LLaVA-NeXT or Gemma-3 on the meta device: the real module names, no weights, no download."""
    from transformers import (
        AutoModelForImageTextToText,
        CLIPVisionConfig,
        Gemma3Config,
        Gemma3TextConfig,
        LlavaNextConfig,
        MistralConfig,
        SiglipVisionConfig,
    )

    text = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
        vocab_size=128,
    )
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    if arch == "llava_v1_6_mistral_7b":
        config = LlavaNextConfig(
            text_config=MistralConfig(**text),
            vision_config=CLIPVisionConfig(**vision, image_size=336, patch_size=14),
            image_token_index=127,
        )
    else:
        config = Gemma3Config(
            text_config=Gemma3TextConfig(**text),
            vision_config=SiglipVisionConfig(**vision, image_size=896, patch_size=14),
            image_token_index=127,
            boi_token_index=125,
            eoi_token_index=126,
        )
    with torch.device("meta"):
        return AutoModelForImageTextToText.from_config(config)


@pytest.mark.parametrize("key", sorted(MODELS))
def test_lora_targets_the_language_model_only(key, tmp_path, tiny_qwen_dir):
    """The LoRA regex matches every attention/MLP projection of the language model and nothing else."""
    parser = TrlParser((TrainArguments, ScaleSFTConfig, ModelConfig))
    _, _, model_args = parser.parse_args_and_config(
        args=["--config", str(EXAMPLES / f"{key}_scale_lora.yaml"), *_overrides(tmp_path)]
    )
    target = get_peft_config(model_args).target_modules
    assert isinstance(target, str)  # a regex, full-matched by PEFT
    if key == "qwen2_5_vl_3b":
        from transformers import AutoModelForImageTextToText

        model = AutoModelForImageTextToText.from_pretrained(tiny_qwen_dir)
    else:
        model = _meta_model(key)
    names = _linear_names(model)
    matched = {name for name in names if re.fullmatch(target, name)}
    expected = {
        name
        for name in names
        if ".language_model.layers." in name
        and name.rsplit(".", 1)[1]
        in {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    }
    assert matched == expected and len(expected) == 7 * model.config.get_text_config().num_hidden_layers
    if key == "qwen2_5_vl_3b":  # and PEFT puts adapters exactly there
        from peft import get_peft_model

        peft_model = get_peft_model(model, get_peft_config(model_args))
        adapted = {
            n.removeprefix("base_model.model.") for n, m in peft_model.named_modules() if hasattr(m, "lora_A")
        }
        assert adapted == expected


def test_text_lora_targets_every_decoder_projection(tmp_path, tiny_text_dir):
    """The text recipe's LoRA regex matches the attention/MLP projections of Qwen2ForCausalLM, not lm_head."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    parser = TrlParser((TrainArguments, ScaleSFTConfig, ModelConfig))
    _, _, model_args = parser.parse_args_and_config(
        args=["--config", str(EXAMPLES / "qwen2_5_1_5b_text_scale_lora.yaml"), *_overrides(tmp_path)]
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_text_dir)
    names = _linear_names(model)
    expected = {
        name
        for name in names
        if name.startswith("model.layers.")
        and name.rsplit(".", 1)[1]
        in {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    }
    assert "lm_head" in names and len(expected) == 7 * model.config.num_hidden_layers
    peft_model = get_peft_model(model, get_peft_config(model_args))
    adapted = {
        n.removeprefix("base_model.model.") for n, m in peft_model.named_modules() if hasattr(m, "lora_A")
    }
    assert adapted == expected


@pytest.mark.parametrize("path", GRPO_RECIPES, ids=lambda p: p.stem)
def test_grpo_recipe_parses(path, tmp_path):
    raw = yaml.safe_load(path.read_text())
    assert raw["bf16"] is True and "scale-sft grpo" in path.read_text().splitlines()[1]
    parser = TrlParser((GRPOArguments, ScaleGRPOConfig, ModelConfig))  # exactly `scale-sft grpo`'s parser
    script_args, config, model_args = parser.parse_args_and_config(
        args=["--config", str(path), *_overrides(tmp_path)]
    )
    key = path.stem.removesuffix("_grpo")
    assert script_args.model == f"runs/{key}_scale"  # continues from the SCALe-SFT recipe's output
    assert yaml.safe_load((EXAMPLES / f"{key}_scale.yaml").read_text())["output_dir"] == script_args.model
    assert config.num_generations == 8 and config.generation_batch_size % config.num_generations == 0
    assert config.beta > 0 and config.max_completion_length >= 1024 and config.learning_rate == 1e-6
    assert model_args.dtype == "bfloat16" and config.rewards == ["format", "accuracy"]


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.stem)
def test_accelerate_config_loads(path):
    config = load_config_from_file(str(path))
    expected = {"ddp": "MULTI_GPU", "fsdp": "FSDP", "zero3": "DEEPSPEED"}[path.stem]
    assert config.distributed_type.value == expected
    assert config.mixed_precision == "bf16" and config.num_processes == 8 and not config.use_cpu
    if path.stem == "zero3":
        assert config.deepspeed_config["zero_stage"] == 3
    if path.stem == "fsdp":
        assert config.fsdp_config["fsdp_version"] == 2


def test_recipes_doc_names_existing_files():
    doc = (ROOT / "docs" / "RECIPES.md").read_text()
    named = set(re.findall(r"examples/[\w/]+\.yaml", doc))
    assert named and all((ROOT / name).is_file() for name in named)
    assert {f"examples/{p.name}" for p in EXAMPLES.glob("*.yaml")} <= named  # every recipe is documented
