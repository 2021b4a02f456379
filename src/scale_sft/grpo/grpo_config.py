"""``ScaleGRPOConfig``: TRL's ``GRPOConfig`` plus the rewards to use (tags and malformed handling come from
``CotMethodConfig``, shared with SFT)."""

from __future__ import annotations

from dataclasses import dataclass, field

from trl import GRPOConfig

from scale_sft.grpo.rewards import REWARDS
from scale_sft.method_config import CotMethodConfig


@dataclass
class ScaleGRPOConfig(CotMethodConfig, GRPOConfig):
    r"""Configuration for ``scale-sft grpo``: every [`~trl.GRPOConfig`] field, the [`CotMethodConfig`] fields
    (tags, `malformed`, CPU-safe `bf16`), plus:

    Parameters:
        rewards (`list[str]`, defaults to `["format", "accuracy"]`):
            Reward functions, among `format` (strict `<think>..</think><answer>..</answer>` full match),
            `accuracy` (the evaluation's answer matching), `length` (`-tokens / max_completion_length`) and
            `repetition` (-1 for a loop). Weights: `reward_weights`, in the same order (default all 1).
        dataset_num_proc (`int` or `None`, defaults to `None`):
            Processes that check the records before training (as `SFTConfig.dataset_num_proc`).
    """

    rewards: list[str] = field(
        default_factory=lambda: ["format", "accuracy"],
        metadata={"help": "Reward functions, in order.", "choices": list(REWARDS)},
    )

    dataset_num_proc: int | None = field(
        default=None, metadata={"help": "Processes that check the records before training."}
    )

    def __post_init__(self):
        super().__post_init__()
        unknown = set(self.rewards) - set(REWARDS)
        if unknown:
            raise ValueError(f"Unknown rewards {sorted(unknown)}; choose from {REWARDS}.")
