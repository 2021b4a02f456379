"""ScaleSFTTrainer: gradient-accumulation invariance, padding/order invariance, exact resume, for a
vision-language model (tiny Qwen2.5-VL) and a text-only causal LM (tiny Qwen2 on R1-style records)."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

from scale_sft import ScaleSFTConfig, ScaleSFTTrainer
from scale_sft.data import synthetic_text
from scale_sft.data.format import assistant_message, cot_completion
from scale_sft.data.synthetic import FEATURES, make_records
from scale_sft.sft.collator import ScaleSFTCollator

pytestmark = pytest.mark.integration  # trains


@dataclass
class Kind:
    """A model kind under test: its checkpoint, processor (a tokenizer for text), auto class and data."""

    model_dir: Path
    processor: Any
    auto: type
    data_dir: Path
    uneven: datasets.Dataset


def _uneven_visual():
    records = make_records(8, seed=3)
    for i, record in enumerate(records):
        if i in (1, 5):
            record["messages"][1] = assistant_message(f"<answer>{record['answer']}</answer>")
        elif i in (2, 6):
            record["messages"][1] = assistant_message(
                cot_completion("Short.", f"the answer is {record['answer']}")
            )
    return datasets.Dataset.from_list(records, features=FEATURES)


def _uneven_text():
    records = synthetic_text.make_text_records(8, seed=3)
    for i, record in enumerate(records):
        boxed = f"The answer is $\\boxed{{{record['answer']}}}$."
        if i in (1, 5):
            record["messages"][1]["content"] = boxed
        elif i in (2, 6):
            record["messages"][1]["content"] = f"<think>\nShort.\n</think>\n\n{boxed}"
    return datasets.Dataset.from_list(records, features=synthetic_text.FEATURES)


@pytest.fixture(scope="module", params=["qwen2_5_vl", "qwen2_text"])
def kind(request):
    """8 uneven records per kind: full traces, one-line traces and direct answers (very different lengths)."""
    if request.param == "qwen2_text":
        fixtures = ("tiny_text_dir", "text_tokenizer", "synthetic_text_dir")
        auto, uneven = AutoModelForCausalLM, _uneven_text()
    else:
        fixtures = ("tiny_qwen_dir", "qwen_processor", "synthetic_dir")
        auto, uneven = AutoModelForImageTextToText, _uneven_visual()
    model_dir, processor, data_dir = (request.getfixturevalue(name) for name in fixtures)
    return Kind(model_dir, processor, auto, data_dir, uneven)


def _config(tmp_path, **overrides):
    defaults = dict(
        output_dir=str(tmp_path),
        optim="sgd",
        learning_rate=1.0,
        lr_scheduler_type="constant",
        max_grad_norm=0.0,  # no clipping: the update is exactly -lr * gradient
        max_steps=1,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=0,
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    return ScaleSFTConfig(**{**defaults, **overrides})


def _trainer(kind: Kind, dataset, config):
    model = kind.auto.from_pretrained(kind.model_dir)
    return ScaleSFTTrainer(model, args=config, train_dataset=dataset, processing_class=kind.processor)


# loss_method -> ScaleSFTConfig fields: "step" is SCALe with segment means over the whole optimizer step
METHODS = {
    "scale": {"loss_method": "scale"},
    "step": {"loss_method": "scale", "segment_normalization": "step"},
    "vanilla": {"loss_method": "vanilla"},
}


@pytest.mark.parametrize("method", list(METHODS))
def test_gradient_accumulation_matches_full_batch(method, kind, tmp_path):
    before = kind.auto.from_pretrained(kind.model_dir).state_dict()
    updates, losses = [], []
    for batch, accumulation in ((8, 1), (2, 4)):
        config = _config(
            tmp_path / f"{batch}x{accumulation}",
            **METHODS[method],
            per_device_train_batch_size=batch,
            gradient_accumulation_steps=accumulation,
        )
        trainer = _trainer(kind, kind.uneven, config)
        trainer.train()
        after = trainer.model.state_dict()
        updates.append({k: after[k] - before[k] for k in before})
        losses.append(trainer.state.log_history[0])
    full, accumulated = updates
    assert max(full[k].abs().max().item() for k in full) > 1e-4  # the step really moved the parameters
    worst = max((full[k] - accumulated[k]).abs().max().item() for k in full)
    assert worst < 1e-5, f"max parameter-update difference {worst}"
    for key in ("loss", "loss_think", "loss_answer", "think_tokens", "answer_tokens", "answer_share"):
        assert losses[0][key] == pytest.approx(losses[1][key], rel=1e-5), key


@pytest.mark.parametrize("method", list(METHODS))
def test_loss_invariant_to_padding_side_and_order(method, kind, tmp_path):
    trainer = _trainer(kind, kind.uneven, _config(tmp_path, **METHODS[method]))
    trainer.model.eval()
    examples = [kind.uneven[i] for i in range(6)]
    losses = []
    for side, order in (("right", examples), ("left", examples), ("right", examples[::-1])):
        batch = ScaleSFTCollator(processor=kind.processor, padding_side=side)(order)
        with torch.no_grad():
            losses.append(trainer.compute_loss(trainer.model, batch).item())
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert losses[2] == pytest.approx(losses[0], rel=1e-5)


def test_resume_continues_schedule_and_losses_exactly(kind, tmp_path):
    data = datasets.load_from_disk(str(kind.data_dir))["train"].select(range(24))
    common = dict(
        optim="adamw_torch",
        learning_rate=1e-3,
        lr_scheduler_type="linear",
        max_grad_norm=1.0,
        per_device_train_batch_size=2,
        max_steps=6,
        save_strategy="steps",
        save_steps=3,
    )
    full = _trainer(kind, data, _config(tmp_path / "full", **common))
    full.train()
    interrupted = _trainer(kind, data, _config(tmp_path / "resumed", **common))
    interrupted.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-3"))

    def logged(trainer):
        return {h["step"]: h for h in trainer.state.log_history if "loss" in h}

    full_logs, resumed_logs = logged(full), logged(interrupted)
    assert sorted(resumed_logs) == [1, 2, 3, 4, 5, 6]  # 1-3 come back with the checkpoint state
    # compute continues the checkpoint's counts: the resumed run has processed as many tokens as the full one
    saved = json.loads((tmp_path / "full" / "checkpoint-3" / "compute.json").read_text())
    full_compute, resumed_compute = full.compute_summary(), interrupted.compute_summary()
    assert 0 < saved["train_tokens"] < resumed_compute["train_tokens"] == full_compute["train_tokens"]
    assert resumed_compute["cpu_s"] > saved["cpu_s"]
    weights = [full_logs[s]["answer_weight"] for s in range(1, 7)]
    assert weights == sorted(weights) and weights[0] < weights[-1]  # the cosine schedule moved
    for step in (4, 5, 6):
        for key in ("answer_weight", "loss", "loss_think", "loss_answer"):
            assert resumed_logs[step][key] == pytest.approx(full_logs[step][key], rel=1e-6), (step, key)
