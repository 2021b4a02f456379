"""Loading a processor with image options: the first memory knobs of the paper's models.

Qwen2.5-VL gives an image ``(H'/28) x (W'/28)`` tokens with its sides rounded to multiples of 28 between
``min_pixels`` and ``max_pixels`` (3,136 and 12,845,056 by default: up to 16,384 tokens for one image);
Gemma 3 adds 256 tokens per pan-and-scan crop when ``do_pan_and_scan`` is on. Every command that loads a
processor takes these options. ``train`` and ``grpo`` save the processor with them, so an evaluation of their
output sees the resolution training used unless told otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from transformers import AutoProcessor

# options whose value the image processor keeps in its `size` dict, under another name
SIZE_KEYS = {"min_pixels": "shortest_edge", "max_pixels": "longest_edge"}


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
