"""``ScaleGRPOConfig``: TRL's ``GRPOConfig`` plus the rewards to use and the tag strings."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig

from scale_sft.config import cpu_safe_bf16
from scale_sft.data.format import CotTags
from scale_sft.rl.rewards import REWARDS


@dataclass
class ScaleGRPOConfig(GRPOConfig):
    r"""Configuration for ``scale-sft grpo``: every [`~trl.GRPOConfig`] field, plus:

    Parameters:
        rewards (`list[str]`, defaults to `["format", "accuracy"]`):
            Reward functions, among `format` (strict `<think>..</think><answer>..</answer>` full match),
            `accuracy` (the evaluation's answer matching), `length` (`-tokens / max_completion_length`) and
            `repetition` (-1 for a loop). Weights: `reward_weights`, in the same order (default all 1).
        think_start_tag, think_end_tag, answer_start_tag, answer_end_tag (`str`):
            The tag strings, `<think>`, `</think>`, `<answer>`, `</answer>` by default.
        bf16 (`bool`, defaults to `True` on a GPU that supports it, else `False`).
    """

    rewards: list[str] = field(
        default_factory=lambda: ["format", "accuracy"], metadata={"help": f"Rewards among {REWARDS}."}
    )
    think_start_tag: str = field(default="<think>", metadata={"help": "Tag opening the reasoning."})
    think_end_tag: str = field(default="</think>", metadata={"help": "Tag closing the reasoning."})
    answer_start_tag: str = field(default="<answer>", metadata={"help": "Tag opening the answer."})
    answer_end_tag: str = field(default="</answer>", metadata={"help": "Tag closing the answer."})

    def __post_init__(self):
        cpu_safe_bf16(self)
        super().__post_init__()
        unknown = set(self.rewards) - set(REWARDS)
        if unknown:
            raise ValueError(f"Unknown rewards {sorted(unknown)}; choose from {REWARDS}.")

    @property
    def tags(self) -> CotTags:
        return CotTags(self.think_start_tag, self.think_end_tag, self.answer_start_tag, self.answer_end_tag)
