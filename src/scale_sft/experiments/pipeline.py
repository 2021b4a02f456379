"""What a pipeline is: a chain of training stages, each continuing the one before it, and the budget they get.

A pipeline is named by its last stage; ``Stage.after`` links it to the stage whose model it starts from: another
stage, a ``BaseStage`` (the pretrained start of the paper's regime, shared by every pipeline of a seed and not
counted in their cost), or None (the seed's tiny model, trained from scratch). Stages are trained once per seed and shared: ``scale_sft_grpo`` continues the very
``scale_sft`` stage that is itself a pipeline. A stage's name is its directory under the seed's output folder
and its row's name in results, so nothing is derived from strings elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class BaseStage:
    """The pretrained "instruct" start (``scale_sft.experiments.base``): the seed's tiny model trained with
    vanilla SFT to describe scenes and answer their questions directly, before any chain-of-thought data."""

    steps: int = 1000  # optimizer steps, batch 8
    n_scenes: int = 2000  # training scenes, two records each (description, direct answer)
    n_test: int = 100  # held-out scenes its direct answers are scored on
    learning_rate: float = 1e-3


@dataclass(frozen=True)
class Budget:
    """How much data, training and evaluation a run of the pipelines gets."""

    n_train: int = 3000
    n_test: int = 100
    sft_steps: int = 1500
    learning_rate: float = 1e-3  # at 3e-3 the tiny model stalled on an image-blind solution in trials
    grpo_steps: int = 12
    grpo_learning_rate: float = 5e-5
    grpo_temperature: float = 1.0
    grpo_prompts_per_step: int = 1  # each with num_generations completions
    num_generations: int = 4
    max_new_tokens: int = 192  # gold traces are about 100 tokens: room for a loop to show
    checkpoints: int = 0  # intermediate checkpoints per stage, evaluated for accuracy against compute
    base: BaseStage | None = None  # the pretrained start the pipelines fine-tune; None: from scratch

    def save_options(self, steps: int) -> dict:
        """Trainer settings that save ``checkpoints`` evenly spaced model-only checkpoints in ``steps``."""
        if not self.checkpoints:
            return {"save_strategy": "no"}
        every = max(steps // (self.checkpoints + 1), 1)
        return {"save_strategy": "steps", "save_steps": every, "save_only_model": True}


@dataclass(frozen=True)
class Stage:
    """One training stage: which trainer, with which settings, continuing which stage."""

    name: str  # its directory under the seed's output folder and its name in results
    trainer: Literal["sft", "grpo"]
    loss_method: str = "vanilla"  # the SFT loss ("vanilla" or "scale"); GRPO stages ignore it
    config: tuple[tuple[str, Any], ...] = ()  # more ScaleSFTConfig / ScaleGRPOConfig fields, as (name, value)
    after: Stage | BaseStage | None = None  # what this stage starts from; None: the seed's tiny model

    def __post_init__(self) -> None:
        if self.trainer not in ("sft", "grpo"):
            raise ValueError(f"Stage {self.name!r}: trainer must be 'sft' or 'grpo', not {self.trainer!r}.")
        if self.trainer == "grpo" and not isinstance(self.after, Stage):
            raise ValueError(f"Stage {self.name!r}: a GRPO stage continues an SFT stage (set `after`).")

    @property
    def chain(self) -> tuple[Stage, ...]:
        """Every stage of the pipeline this stage ends, first to last (its base apart)."""
        return (*self.after.chain, self) if isinstance(self.after, Stage) else (self,)

    @property
    def base(self) -> BaseStage | None:
        """The pretrained start of this stage's pipeline, if it has one."""
        return self.chain[0].after

    @property
    def overrides(self) -> dict[str, Any]:
        return dict(self.config)


def in_training_order(stages: tuple[Stage, ...]) -> tuple[Stage, ...]:
    """``stages`` as given, checked so that every stage comes after the stage it continues."""
    seen: set[str] = set()
    for stage in stages:
        if isinstance(stage.after, Stage) and stage.after.name not in seen:
            raise ValueError(
                f"Stage {stage.name!r} continues {stage.after.name!r}, which must come before it."
            )
        if stage.name in seen:
            raise ValueError(f"Two stages are named {stage.name!r}; a name is a stage's directory.")
        seen.add(stage.name)
    return stages


def paper_pipelines(base: BaseStage | None = None) -> tuple[Stage, ...]:
    """The paper's (a) vanilla SFT, (b) SCALe-SFT, (c) vanilla SFT + GRPO, (d) SCALe-SFT + GRPO, from ``base``
    (None: from scratch)."""
    vanilla = Stage("vanilla_sft", "sft", loss_method="vanilla", after=base)
    scale = Stage("scale_sft", "sft", loss_method="scale", after=base)
    return (
        vanilla,
        scale,
        Stage("vanilla_sft_grpo", "grpo", after=vanilla),
        Stage("scale_sft_grpo", "grpo", after=scale),
    )


VANILLA_SFT, SCALE_SFT, VANILLA_SFT_GRPO, SCALE_SFT_GRPO = PAPER_PIPELINES = paper_pipelines()
# the paper's cost comparison: each pipeline against SFT + GRPO (rows are matched by its name)
REFERENCE = VANILLA_SFT_GRPO
