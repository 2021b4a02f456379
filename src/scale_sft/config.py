"""``ScaleSFTConfig``: TRL's ``SFTConfig`` plus the SCALe loss, its schedule, the tags and malformed handling."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from trl import SFTConfig

from scale_sft.data.format import CotTags
from scale_sft.loss import LOSS_METHODS
from scale_sft.schedules import SCHEDULES, answer_weight


def cpu_safe_bf16(config) -> None:
    """TRL defaults ``bf16`` to on; keep that only where a GPU supports it, so CPU runs work out of the box."""
    if config.bf16 is None:
        config.bf16 = not config.fp16 and torch.cuda.is_available() and torch.cuda.is_bf16_supported()


@dataclass
class ScaleSFTConfig(SFTConfig):
    r"""Configuration for [`ScaleSFTTrainer`]: every [`~trl.SFTConfig`] field, plus:

    Parameters:
        loss_method (`str`, defaults to `"scale"`):
            `"scale"`: per-sample length-normalised THINK and ANSWER losses mixed by the scheduled answer weight
            `w`, averaged over the samples of each optimizer step. `"vanilla"`: the token-mean cross-entropy over
            THINK and ANSWER tokens together (the SFT baseline), through the same data, masks and pipeline.
        answer_weight_schedule (`str`, defaults to `"cosine"`):
            How `w` moves with progress `p = global_step / max_steps`: `"cosine"`, `"linear"` or `"constant"`.
        answer_weight_start (`float`, defaults to `0.2`):
            `w` at `p = 0` (think-focused). Our default, not the paper's (its constants are not public).
        answer_weight_end (`float`, defaults to `0.8`):
            `w` at `p = 1` (answer-focused). Our default, not the paper's.
        think_start_tag, think_end_tag, answer_start_tag, answer_end_tag (`str`):
            The tag strings, `<think>`, `</think>`, `<answer>`, `</answer>` by default.
        malformed (`str`, defaults to `"skip"`):
            What to do with a record whose tags cannot be split (only one think tag, tags out of order, nothing
            after `</think>`), whose image is missing or unreadable, or that does not fit `max_length`: `"skip"`
            it and count it in the log, or `"error"`.
        freeze_vision_tower (`bool`, defaults to `False`):
            Train the language model and the image-feature projector only, with the image encoder frozen.
        bf16 (`bool`, defaults to `True` on a GPU that supports it, else `False`):
            Unlike `SFTConfig`, bf16 is not the default on CPU.
        max_length (`int` or `None`, defaults to `1024`):
            Samples longer than this (image tokens included) are skipped and counted, never truncated, so no
            sample is trained with its answer cut off. `None` keeps every sample.
    """

    loss_method: str = field(default="scale", metadata={"help": f"Loss: one of {LOSS_METHODS}."})
    answer_weight_schedule: str = field(
        default="cosine", metadata={"help": f"Answer-weight schedule: one of {SCHEDULES}."}
    )
    answer_weight_start: float = field(default=0.2, metadata={"help": "Answer weight w at the start."})
    answer_weight_end: float = field(default=0.8, metadata={"help": "Answer weight w at the end."})
    think_start_tag: str = field(default="<think>", metadata={"help": "Tag opening the reasoning."})
    think_end_tag: str = field(default="</think>", metadata={"help": "Tag closing the reasoning."})
    answer_start_tag: str = field(default="<answer>", metadata={"help": "Tag opening the answer."})
    answer_end_tag: str = field(default="</answer>", metadata={"help": "Tag closing the answer."})
    malformed: str = field(
        default="skip",
        metadata={"help": "Malformed, unreadable or over-long records: 'skip' (counted) or 'error'."},
    )

    freeze_vision_tower: bool = field(
        default=False, metadata={"help": "Freeze the image encoder (the projector stays trainable)."}
    )

    def __post_init__(self):
        cpu_safe_bf16(self)
        super().__post_init__()
        if self.loss_method not in LOSS_METHODS:
            raise ValueError(f"loss_method must be one of {LOSS_METHODS}, got {self.loss_method!r}.")
        if self.malformed not in ("skip", "error"):
            raise ValueError(f"malformed must be 'skip' or 'error', got {self.malformed!r}.")
        answer_weight(0.0, self.answer_weight_schedule, self.answer_weight_start, self.answer_weight_end)

    @property
    def tags(self) -> CotTags:
        return CotTags(self.think_start_tag, self.think_end_tag, self.answer_start_tag, self.answer_end_tag)
