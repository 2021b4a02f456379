"""Loading a model and its processor by hub name or local path (the same code path for both).

A vision-language checkpoint loads as ``AutoModelForImageTextToText`` + ``AutoProcessor``; a text-only one (a
causal LM such as Qwen2.5-Instruct, ``is_text_only_checkpoint``) as ``AutoModelForCausalLM`` + its tokenizer.

A ``.gguf`` file (``models/gguf.py``) is converted once into a cached plain checkpoint, which is then what every
stage loads and what ``run.json`` records beside the file it came from.

A LoRA output records its base model (PEFT's ``base_model_name_or_path``) as the absolute path the base was
loaded from, and ``run.json`` adds the base's fingerprint; loading refuses an adapter whose base differs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText
from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
from transformers.utils import cached_file

from scale_sft.models.gguf import gguf_checkpoint, gguf_source, is_gguf
from scale_sft.models.processor import load_processor

logger = logging.getLogger(__name__)

FINGERPRINT_FILES = ("config.json", "adapter_config.json")
FINGERPRINT_CHUNK = 1 << 20  # bytes read from each end of every weights file


def resolve_model(name_or_path: str) -> str:
    """A local model directory as an absolute path, so a saved reference means the same from any working
    directory; a GGUF file as its converted checkpoint folder; a hub name unchanged."""
    if is_gguf(name_or_path):
        return str(gguf_checkpoint(name_or_path))
    path = Path(name_or_path).expanduser()
    return str(path.resolve()) if path.exists() else name_or_path


def model_fingerprint(name_or_path: str) -> str | None:
    """sha256 over the model's config files and, per ``*.safetensors`` file, its name, size, first and last MiB.

    Reading both ends of each file tells retrained weights of the same architecture apart without hashing
    gigabytes. None for a hub model that is not in the local cache.
    """
    folder = Path(name_or_path)
    if not folder.is_dir():
        try:
            config = cached_file(name_or_path, "config.json", _raise_exceptions_for_missing_entries=False)
        except OSError:  # not a hub name, or not reachable
            return None
        if config is None:
            return None
        folder = Path(config).parent
    digest = hashlib.sha256()
    files = [folder / name for name in FINGERPRINT_FILES] + sorted(folder.glob("*.safetensors"))
    for path in (f for f in files if f.is_file()):
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}".encode())
        with path.open("rb") as handle:
            digest.update(handle.read(FINGERPRINT_CHUNK))
            handle.seek(max(size - FINGERPRINT_CHUNK, 0))
            digest.update(handle.read(FINGERPRINT_CHUNK))
    return digest.hexdigest()


def base_model_record(name_or_path: str) -> dict:
    """What ``run.json`` records about the model a run started from (``base_model``); a model converted from
    a GGUF file adds that file's path, sha256 and quantisation (``gguf``)."""
    path = resolve_model(name_or_path)
    record = {"path": path, "fingerprint": model_fingerprint(path)}
    source = gguf_source(path) if Path(path).is_dir() else None
    return {**record, "gguf": source} if source else record


def _check_adapter_base(adapter: str, base: str) -> None:
    """Refuse an adapter whose base model differs from the one it was trained on (``run.json``)."""
    run = Path(adapter, "run.json")
    recorded = json.loads(run.read_text()).get("base_model") if run.is_file() else None
    if not recorded or not recorded.get("fingerprint"):
        logger.warning(
            "%s records no fingerprint of its base model %s (resolved from %s): the base cannot be verified.",
            adapter, base, Path.cwd(),
        )  # fmt: skip
        return
    found = model_fingerprint(base)
    if found != recorded["fingerprint"]:
        raise ValueError(
            f"The LoRA adapter {adapter} was trained on {recorded['path']}, but the model found at {base} differs "
            f"from it (fingerprint {found} != {recorded['fingerprint']}); merging the adapter onto it would give "
            "a different model. Restore that base model, or edit base_model_name_or_path in adapter_config.json."
        )


def _load_model(name_or_path: str, kwargs: dict):
    """The model at ``name_or_path``; a LoRA adapter directory is merged onto its (verified) base first."""
    name_or_path = resolve_model(name_or_path)
    if not Path(name_or_path, "adapter_config.json").is_file():
        return _auto_model(name_or_path, kwargs["trust_remote_code"]).from_pretrained(name_or_path, **kwargs)
    from peft import PeftConfig, PeftModel

    base = PeftConfig.from_pretrained(name_or_path).base_model_name_or_path
    if Path(base).is_absolute() and not Path(base).exists():
        raise FileNotFoundError(f"The base model of the LoRA adapter {name_or_path}, {base}, is not there.")
    # A base that is itself an adapter (LoRA GRPO on a LoRA SFT output) is merged first.
    model = _load_model(base, kwargs)
    _check_adapter_base(name_or_path, base)
    model = PeftModel.from_pretrained(model, name_or_path).merge_and_unload()
    # PEFT froze the base weights; unfrozen, the merged model trains like any other. An adapter trained on top
    # of it records this directory as its base, which loads as this same merged model.
    model.requires_grad_(True)
    model.name_or_path = model.config.name_or_path = name_or_path
    return model


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
    onto its base model and merged, so every later stage sees a plain model; a base that differs from the one
    recorded in the checkpoint's ``run.json`` is refused. A local path is used as an absolute path, which is
    what an adapter trained from this model records as its base. A ``.gguf`` file loads as its converted checkpoint.
    """
    torch_dtype = dtype if dtype in (None, "auto") else getattr(torch, dtype)
    kwargs = {
        "dtype": torch_dtype,
        "trust_remote_code": trust_remote_code,
        "attn_implementation": attn_implementation,
    }
    path = resolve_model(name_or_path)
    model = _load_model(path, kwargs)
    processor = load_processor(path, trust_remote_code, processor_options)
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
