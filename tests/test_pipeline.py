"""The pipeline description the demo and the study share: chains of stages, their order, their rows' names."""

import pytest

from scale_sft.experiments.cost import add_ratios, versus
from scale_sft.experiments.pipeline import (
    PAPER_PIPELINES,
    REFERENCE,
    SCALE_SFT,
    SCALE_SFT_GRPO,
    VANILLA_SFT,
    Stage,
    in_training_order,
)


def test_a_grpo_pipeline_is_its_sft_stage_then_itself():
    assert SCALE_SFT_GRPO.chain == (SCALE_SFT, SCALE_SFT_GRPO)
    assert VANILLA_SFT.chain == (VANILLA_SFT,)
    assert [s.name for s in PAPER_PIPELINES] == [
        "vanilla_sft",
        "scale_sft",
        "vanilla_sft_grpo",
        "scale_sft_grpo",
    ]
    assert in_training_order(PAPER_PIPELINES) == PAPER_PIPELINES


def test_stage_settings_pass_through_as_config_fields():
    stage = Stage("step_sft", "sft", loss_method="scale", config=(("segment_normalization", "step"),))
    assert stage.overrides == {"segment_normalization": "step"}
    assert hash(stage) == hash(Stage("step_sft", "sft", "scale", (("segment_normalization", "step"),)))


def test_bad_descriptions_are_refused_with_the_stage_named():
    with pytest.raises(ValueError, match="'lonely'.*continues an SFT stage"):
        Stage("lonely", "grpo")
    with pytest.raises(ValueError, match="'x'.*trainer"):
        Stage("x", "dpo")
    with pytest.raises(ValueError, match="'scale_sft_grpo' continues 'scale_sft', which must come before"):
        in_training_order((VANILLA_SFT, SCALE_SFT_GRPO, SCALE_SFT))
    with pytest.raises(ValueError, match="Two stages are named 'scale_sft'"):
        in_training_order((SCALE_SFT, Stage("scale_sft", "sft")))


def test_ratio_keys_are_named_once():
    runs = [
        {"name": REFERENCE.name, "train_tokens": 200, "train_cpu_s": 4.0, "train_wall_clock_s": 8.0},
        {"name": SCALE_SFT.name, "train_tokens": 50, "train_cpu_s": 3.0, "train_wall_clock_s": 2.0},
    ]
    add_ratios(runs)
    assert versus("tokens") == "tokens_vs_vanilla_sft_grpo"
    assert runs[1][versus("tokens")] == 0.25 and runs[1][versus("cpu_s")] == 0.75
    assert runs[1][versus("wall_clock")] == 0.25 and runs[0][versus("tokens")] == 1.0
