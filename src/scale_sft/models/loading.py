"""Loading a model and its processor by hub name or local path (the same code path for both).

A vision-language checkpoint loads as ``AutoModelForImageTextToText`` + ``AutoProcessor``; a text-only one (a
causal LM such as Qwen2.5-Instruct, ``is_text_only_checkpoint``) as ``AutoModelForCausalLM`` + its tokenizer.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

from scale_sft.models.processor import load_processor


def is_text_only_checkpoint(name_or_path: str, trust_remote_code: bool = False) -> bool:
    """Whether a checkpoint is a text-only model: ``AutoModelForImageTextToText`` does not support its config."""
    config = AutoConfig.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    remote = "AutoModelForImageTextToText" in (getattr(config, "auto_map", None) or {})
    return not remote and config.model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def _auto_model(name_or_path: str, trust_remote_code: bool):
    text_only = is_text_only_checkpoint(name_or_path, trust_remote_code)
    return AutoModelForCausalLM if text_only else AutoModelForImageTextToText


def load_model_and_processor(
    name_or_path: str,
    dtype: str | None = "float32",
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
    processor_options: dict | None = None,
):
    """``AutoModelForImageTextToText`` + ``AutoProcessor`` (a text-only checkpoint: ``AutoModelForCausalLM`` + its
    tokenizer, which ``AutoProcessor`` returns for it); remote code only when the user asks for it.

    ``processor_options`` (``min_pixels``, ``max_pixels``, ...) go to the image processor (``load_processor``).

    A LoRA checkpoint (a directory with ``adapter_config.json``, as ``train --use_peft`` writes) is loaded
    onto its base model and merged, so every later stage sees a plain model.
    """
    torch_dtype = dtype if dtype in (None, "auto") else getattr(torch, dtype)
    kwargs = {
        "dtype": torch_dtype,
        "trust_remote_code": trust_remote_code,
        "attn_implementation": attn_implementation,
    }
    adapter = Path(name_or_path, "adapter_config.json").is_file()
    if adapter:
        from peft import PeftConfig, PeftModel

        base = PeftConfig.from_pretrained(name_or_path).base_model_name_or_path
        model = _auto_model(base, trust_remote_code).from_pretrained(base, **kwargs)
        model = PeftModel.from_pretrained(model, name_or_path).merge_and_unload()
        # PEFT froze the base weights; unfrozen, the merged model trains like any other.
        model.requires_grad_(True)
    else:
        model = _auto_model(name_or_path, trust_remote_code).from_pretrained(name_or_path, **kwargs)
    processor = load_processor(name_or_path, trust_remote_code, processor_options)
    return model, processor


VISION_TOWER_NAMES = ("visual", "vision_tower", "vision_model")
PROJECTOR_NAMES = ("merger", "multi_modal_projector")  # Qwen keeps its projector inside `visual`


def freeze_vision_tower(model) -> int:
    """Stop gradients through the image encoder (Qwen's ``visual``, Gemma/LLaVA's ``vision_tower``).

    The projector that maps image features into the language model stays trainable. Returns the number of
    frozen parameters; raises when the model has no recognisable vision tower.
    """
    frozen = 0
    for name, param in model.named_parameters():
        parts = name.split(".")
        if any(p in VISION_TOWER_NAMES for p in parts) and not any(p in PROJECTOR_NAMES for p in parts):
            frozen += param.numel() if param.requires_grad else 0
            param.requires_grad_(False)
    if frozen == 0:
        raise ValueError(
            f"No vision tower ({', '.join(VISION_TOWER_NAMES)}) found in {type(model).__name__}."
        )
    return frozen
