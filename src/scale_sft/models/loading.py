"""Loading a vision-language model and its processor by hub name or local path (the same code path for both)."""

from __future__ import annotations

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor


def load_model_and_processor(
    name_or_path: str,
    dtype: str | None = "float32",
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
):
    """``AutoModelForImageTextToText`` + ``AutoProcessor``; remote code only when the user asks for it."""
    torch_dtype = dtype if dtype in (None, "auto") else getattr(torch, dtype)
    model = AutoModelForImageTextToText.from_pretrained(
        name_or_path,
        dtype=torch_dtype,
        trust_remote_code=trust_remote_code,
        attn_implementation=attn_implementation,
    )
    processor = AutoProcessor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
    return model, processor
