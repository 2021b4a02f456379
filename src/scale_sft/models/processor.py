"""Loading a processor with image options: the first memory knobs of the paper's models.

Qwen2.5-VL gives an image ``(H'/28) x (W'/28)`` tokens with its sides rounded to multiples of 28 between
``min_pixels`` and ``max_pixels`` (3,136 and 12,845,056 by default: up to 16,384 tokens for one image);
Gemma 3 adds 256 tokens per pan-and-scan crop when ``do_pan_and_scan`` is on. Every command that loads a
processor takes these options. ``train`` and ``grpo`` save the processor with them, so an evaluation of their
output sees the resolution training used unless told otherwise.

``save_processor`` saves a processor checked to tokenize as the loaded one did: transformers does not write
every tokenizer setting back (``legacy`` of a Llama/Mistral sentencepiece tokenizer), and a reloaded tokenizer
that splits text differently would evaluate a model on tokens it was not trained on.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field

from transformers import AutoProcessor

# options whose value the image processor keeps in its `size` dict, under another name
SIZE_KEYS = {"min_pixels": "shortest_edge", "max_pixels": "longest_edge"}

# Settings a sentencepiece-style tokenizer is rebuilt from on reload, which transformers (5.x) may not write to
# tokenizer_config.json: `legacy` is never written, so a LlamaTokenizer loaded with legacy=True reloads with
# legacy=False and puts "▁" after special tokens differently. Written into ``init_kwargs``, they are saved. (``add_bos_token`` / ``add_eos_token`` are never
# written to the config either, but survive in tokenizer.json's post-processor; the check below covers them.)
DROPPED_SETTINGS = ("legacy", "add_prefix_space")


@dataclass
class ProcessorArguments:
    """Image-processor options, for every command that loads a processor (unset: the processor's own)."""

    min_pixels: int | None = field(
        default=None, metadata={"help": "Qwen2-VL family: the fewest pixels an image is resized to."}
    )
    max_pixels: int | None = field(
        default=None,
        metadata={"help": "Qwen2-VL family: the most pixels an image is resized to (fewer image tokens)."},
    )
    do_pan_and_scan: bool | None = field(
        default=None, metadata={"help": "Gemma 3: add crops of large images (256 tokens each)."}
    )
    processor_kwargs: str | None = field(
        default=None,
        metadata={
            "help": "Other image-processor options as a JSON object, e.g. '{\"pan_and_scan_max_num_crops\": 2}'."
        },
    )

    def processor_options(self) -> dict:
        """The options that are set, named flags and ``processor_kwargs`` together."""
        options = {k: getattr(self, k) for k in ("min_pixels", "max_pixels", "do_pan_and_scan")}
        options = {k: v for k, v in options.items() if v is not None}
        extra = self.processor_kwargs
        if isinstance(extra, str):
            try:
                extra = json.loads(extra)
            except json.JSONDecodeError as err:
                raise ValueError(f"processor_kwargs is not valid JSON: {err}") from None
        if extra is not None and not isinstance(extra, dict):
            raise ValueError("processor_kwargs must be a JSON object of option names and values.")
        both = set(options) & set(extra or {})
        if both:
            raise ValueError(f"{sorted(both)} given both as a flag and in processor_kwargs.")
        return {**options, **(extra or {})}


def load_processor(name_or_path: str, trust_remote_code: bool = False, options: dict | None = None):
    """``AutoProcessor.from_pretrained`` with image options, each checked to have reached the image processor.

    transformers accepts unknown keyword arguments silently, so an option the processor does not have (e.g.
    ``max_pixels`` for Gemma 3) is an error here rather than a setting that never applies.
    """
    options = options or {}
    processor = AutoProcessor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, **options)
    image_processor = getattr(processor, "image_processor", None)
    for key, value in options.items():
        if image_processor is None:
            raise ValueError(f"{key}: {type(processor).__name__} has no image processor.")
        size = getattr(image_processor, "size", None) or {}
        applied = size.get(SIZE_KEYS[key]) if key in SIZE_KEYS else getattr(image_processor, key, None)
        if applied != value:
            raise ValueError(f"{key} is not an option of {type(image_processor).__name__}.")
    return processor


def _tokenizer(processor):
    return getattr(processor, "tokenizer", processor)


def _probe_ids(tokenizer, probes: Sequence[str]) -> list[list[int]]:
    """Token ids of each probe without and with the tokenizer's own special tokens (BOS), as both are used."""
    return [
        tokenizer(text, add_special_tokens=special)["input_ids"]
        for text in probes
        for special in (False, True)
    ]


def _reloaded_ids(processor, directory: str, probes: Sequence[str], trust_remote_code: bool):
    processor.save_pretrained(directory)
    reloaded = AutoProcessor.from_pretrained(directory, trust_remote_code=trust_remote_code)
    return _probe_ids(_tokenizer(reloaded), probes)


def _first_difference(tokenizer, probes: Sequence[str], expected: list, got: list) -> str:
    index = next(i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b)
    a, b = expected[index], got[index]
    at = next((j for j, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    window = slice(max(at - 3, 0), at + 3)
    return (
        f"probe {index // 2} {probes[index // 2][:80]!r} (special tokens {'on' if index % 2 else 'off'}), "
        f"token {at}: loaded {tokenizer.convert_ids_to_tokens(a[window])}, "
        f"reloaded {tokenizer.convert_ids_to_tokens(b[window])}"
    )


def save_processor(processor, out_dir, probes: Sequence[str], trust_remote_code: bool = False) -> None:
    """``processor.save_pretrained(out_dir)``, checked to tokenize ``probes`` after reload exactly as now.

    ``probes`` are rendered texts (prompts and completions) of the training data. A setting transformers drops
    on save (``DROPPED_SETTINGS``) is written explicitly; a difference that remains raises ``ValueError``, since
    evaluating the saved model would then tokenize differently from training. The check saves and reloads in
    a private temporary directory, so concurrent ranks never read each other's half-written files.
    """
    tokenizer = _tokenizer(processor)
    expected = _probe_ids(tokenizer, probes)
    with tempfile.TemporaryDirectory() as tmp:
        got = _reloaded_ids(processor, tmp, probes, trust_remote_code)
        if got != expected:
            for name in DROPPED_SETTINGS:
                if hasattr(tokenizer, name):
                    tokenizer.init_kwargs[name] = getattr(tokenizer, name)
            got = _reloaded_ids(processor, tmp, probes, trust_remote_code)
        if got != expected:
            raise ValueError(
                f"The saved {type(tokenizer).__name__} tokenizes differently after reload, so the model "
                f"saved to {out_dir} would be evaluated on other tokens than it was trained on: "
                f"{_first_difference(tokenizer, probes, expected, got)}."
            )
    processor.save_pretrained(out_dir)
