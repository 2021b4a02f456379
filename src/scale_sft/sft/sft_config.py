"""``ScaleSFTConfig``: TRL's ``SFTConfig`` plus the SCALe loss and its schedule (tags and malformed handling
come from ``CotMethodConfig``, shared with GRPO)."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import SFTConfig

from scale_sft.loss import LOSS_METHODS, SEGMENT_NORMALIZATIONS
from scale_sft.method_config import CotMethodConfig
from scale_sft.schedules import SCHEDULES, AdaptiveAnswerWeight


@dataclass
class ScaleSFTConfig(CotMethodConfig, SFTConfig):
    r"""Configuration for [`ScaleSFTTrainer`]: every [`~trl.SFTConfig`] field, the [`CotMethodConfig`] fields
    (tags, `malformed`, CPU-safe `bf16`), plus:

    Parameters:
        loss_method (`str`, defaults to `"scale"`):
            `"scale"`: length-normalised THINK and ANSWER losses mixed by the scheduled answer weight `w`, per
            sample and averaged over the samples of each optimizer step (or per step, `segment_normalization`). `"vanilla"`: the token-mean cross-entropy over
            THINK and ANSWER tokens together (the SFT baseline), through the same data, masks and pipeline.
        segment_normalization (`str`, defaults to `"sample"`):
            What SCALe's "length-independent" segment means are taken over. `"sample"`: each sample's THINK and
            ANSWER means, mixed by `w`, averaged over the step's samples (a 40-token trace's THINK tokens then
            weigh ten times a 400-token trace's). `"step"`: each segment's token mean over the whole optimizer
            step, `(1 - w) * sum(CE_think) / N_think + w * sum(CE_answer) / N_answer`, with `N_think` and
            `N_answer` counted over all gradient-accumulation micro-batches and ranks, so every THINK token of
            the step weighs alike; a step with no THINK token at all trains on its ANSWER mean alone. Ignored
            by `loss_method="vanilla"` (see docs/SEGMENT_NORMALIZATION.md).
        answer_weight_schedule (`str`, defaults to `"cosine"`):
            How `w` moves with progress `p = global_step / max_steps`: `"cosine"`, `"linear"` or `"constant"`;
            or `"adaptive"` (beyond the paper, not the default): with the measured THINK loss instead of the
            step count, `w = start + (end - start) * clip(1 - L / L_0, 0, 1)`, where `L_0` is the first step's
            THINK cross-entropy and `L` a moving average of the later steps' (see `AdaptiveAnswerWeight`).
            Computed from each step's loss over all micro-batches and ranks, saved with checkpoints.
        answer_weight_start (`float`, defaults to `0.2`):
            `w` at `p = 0` (think-focused). Our default, not the paper's (its constants are not public).
        answer_weight_end (`float`, defaults to `0.8`):
            `w` at `p = 1` (answer-focused). Our default, not the paper's.
        answer_weight_smoothing (`float`, defaults to `0.9`):
            `"adaptive"` only: the moving average's factor in [0, 1), `L <- s * L + (1 - s) * L_step` (0 follows
            the last step's loss alone; 0.9 averages over about 10 steps).
        freeze_vision_tower (`bool`, defaults to `False`):
            Train the language model and the image-feature projector only, with the image encoder frozen.
        max_length (`int` or `None`, defaults to `1024`):
            Samples longer than this (image tokens included) are skipped and counted, never truncated, so no
            sample is trained with its answer cut off. `None` keeps every sample.

    `dataset_kwargs` always holds `skip_prepare_dataset: True`: [`ScaleSFTCollator`] renders and tokenizes the
    conversations itself, for vision-language and text-only models alike, so TRL's own tokenization never runs.

    The SCALe loss replaces TRL's: `loss_type` must stay `"nll"`, and `label_smoothing_factor`,
    `use_liger_kernel`, `padding_free` and `packing` are refused (they would be silently ignored otherwise).
    """

    loss_method: str = field(default="scale", metadata={"help": "The loss.", "choices": list(LOSS_METHODS)})
    segment_normalization: str = field(
        default="sample",
        metadata={
            "help": "SCALe's segment means per 'sample' or per optimizer 'step'.",
            "choices": list(SEGMENT_NORMALIZATIONS),
        },
    )
    answer_weight_schedule: str = field(
        default="cosine", metadata={"help": "How the answer weight w moves.", "choices": list(SCHEDULES)}
    )
    answer_weight_start: float = field(default=0.2, metadata={"help": "Answer weight w at the start."})
    answer_weight_end: float = field(default=0.8, metadata={"help": "Answer weight w at the end."})
    answer_weight_smoothing: float = field(
        default=0.9, metadata={"help": "Moving-average factor of the THINK loss ('adaptive' schedule only)."}
    )
    freeze_vision_tower: bool = field(
        default=False, metadata={"help": "Freeze the image encoder (the projector stays trainable)."}
    )

    def __post_init__(self):
        super().__post_init__()
        if self.loss_method not in LOSS_METHODS:
            raise ValueError(f"loss_method must be one of {LOSS_METHODS}, got {self.loss_method!r}.")
        if self.segment_normalization not in SEGMENT_NORMALIZATIONS:
            raise ValueError(
                f"segment_normalization must be one of {SEGMENT_NORMALIZATIONS}, "
                f"got {self.segment_normalization!r}."
            )
        if self.answer_weight_schedule not in SCHEDULES:
            raise ValueError(
                f"answer_weight_schedule must be one of {SCHEDULES}, got {self.answer_weight_schedule!r}."
            )
        # checks start, end and smoothing (the step schedules use only the first two)
        AdaptiveAnswerWeight(self.answer_weight_start, self.answer_weight_end, self.answer_weight_smoothing)
        self.dataset_kwargs = {**(self.dataset_kwargs or {}), "skip_prepare_dataset": True}
        ignored = {
            "loss_type": self.loss_type != "nll",
            "label_smoothing_factor": self.label_smoothing_factor != 0,
            "use_liger_kernel": self.use_liger_kernel,
            "padding_free": self.padding_free,
            "packing": self.packing,
        }
        refused = [name for name, set_ in ignored.items() if set_]
        if refused:
            raise ValueError(
                f"ScaleSFTTrainer computes its own loss on THINK/ANSWER segments and does not honour "
                f"{', '.join(refused)}; leave {'it' if len(refused) == 1 else 'them'} at TRL's default."
            )
