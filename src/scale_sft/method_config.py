"""What the SFT and GRPO configurations share: the tag strings, malformed-record handling, CPU-safe bf16.

``CotMethodConfig`` is a dataclass mixin placed before TRL's config class
(``class ScaleSFTConfig(CotMethodConfig, SFTConfig)``), so its fields join the command line of both methods
and its ``__post_init__`` runs before TRL's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from scale_sft.tags import CotTags

MALFORMED_MODES = ("skip", "error")


@dataclass
class CotMethodConfig:
    r"""Fields shared by [`ScaleSFTConfig`] and [`ScaleGRPOConfig`].

    Parameters:
        think_start_tag, think_end_tag, answer_start_tag, answer_end_tag (`str`):
            The tag strings, `<think>`, `</think>`, `<answer>`, `</answer>` by default.
        malformed (`str`, defaults to `"skip"`):
            What to do with a record that cannot be trained on (tags that cannot be split, a missing or
            unreadable image, a sample longer than `max_length`, ...): `"skip"` it and count it by reason in
            the log, or `"error"`, naming the record.
        bf16 (`bool`, defaults to `True` on a GPU that supports it, else `False`):
            Unlike TRL's configs, bf16 is not the default on CPU.
    """

    think_start_tag: str = field(default="<think>", metadata={"help": "Tag opening the reasoning."})
    think_end_tag: str = field(default="</think>", metadata={"help": "Tag closing the reasoning."})
    answer_start_tag: str = field(default="<answer>", metadata={"help": "Tag opening the answer."})
    answer_end_tag: str = field(default="</answer>", metadata={"help": "Tag closing the answer."})
    malformed: str = field(
        default="skip",
        metadata={
            "help": "Records that cannot be trained on: 'skip' (counted by reason) or 'error'.",
            "choices": list(MALFORMED_MODES),
        },
    )

    def __post_init__(self):
        # TRL defaults `bf16` to on; keep that only where a GPU supports it, so CPU runs work out of the box.
        if self.bf16 is None:
            self.bf16 = not self.fp16 and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        super().__post_init__()
        if self.malformed not in MALFORMED_MODES:
            raise ValueError(f"malformed must be one of {MALFORMED_MODES}, got {self.malformed!r}.")

    @property
    def tags(self) -> CotTags:
        return CotTags(self.think_start_tag, self.think_end_tag, self.answer_start_tag, self.answer_end_tag)
