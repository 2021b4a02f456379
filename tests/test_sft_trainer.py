"""ScaleSFTTrainer: gradient-accumulation invariance, padding/order invariance, exact resume."""

import datasets
import pytest
import torch
from transformers import AutoModelForImageTextToText

from scale_sft import ScaleSFTConfig, ScaleSFTTrainer
from scale_sft.data.format import assistant_message, cot_completion
from scale_sft.data.synthetic import FEATURES, make_records
from scale_sft.sft.collator import ScaleSFTCollator


@pytest.fixture(scope="module")
def uneven_dataset():
    """8 records with very different THINK/ANSWER lengths: full traces, one-line traces, direct answers."""
    records = make_records(8, seed=3)
    for i, record in enumerate(records):
        if i in (1, 5):
            record["messages"][1] = assistant_message(f"<answer>{record['answer']}</answer>")
        elif i in (2, 6):
            record["messages"][1] = assistant_message(
                cot_completion("Short.", f"the answer is {record['answer']}")
            )
    return datasets.Dataset.from_list(records, features=FEATURES)


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


def _trainer(model_dir, processor, dataset, config):
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    return ScaleSFTTrainer(model, args=config, train_dataset=dataset, processing_class=processor)


@pytest.mark.parametrize("method", ["scale", "vanilla"])
def test_gradient_accumulation_matches_full_batch(
    method, tiny_qwen_dir, qwen_processor, uneven_dataset, tmp_path
):
    before = AutoModelForImageTextToText.from_pretrained(tiny_qwen_dir).state_dict()
    updates, losses = [], []
    for batch, accumulation in ((8, 1), (2, 4)):
        config = _config(
            tmp_path / f"{batch}x{accumulation}",
            loss_method=method,
            per_device_train_batch_size=batch,
            gradient_accumulation_steps=accumulation,
        )
        trainer = _trainer(tiny_qwen_dir, qwen_processor, uneven_dataset, config)
        trainer.train()
        after = trainer.model.state_dict()
        updates.append({k: after[k] - before[k] for k in before})
        losses.append(trainer.state.log_history[0])
    full, accumulated = updates
    assert max(full[k].abs().max().item() for k in full) > 1e-4  # the step really moved the parameters
    worst = max((full[k] - accumulated[k]).abs().max().item() for k in full)
    assert worst < 1e-5, f"max parameter-update difference {worst}"
    for key in ("loss", "loss_think", "loss_answer", "think_tokens", "answer_tokens"):
        assert losses[0][key] == pytest.approx(losses[1][key], rel=1e-5), key


@pytest.mark.parametrize("method", ["scale", "vanilla"])
def test_loss_invariant_to_padding_side_and_order(
    method, tiny_qwen_dir, qwen_processor, uneven_dataset, tmp_path
):
    trainer = _trainer(tiny_qwen_dir, qwen_processor, uneven_dataset, _config(tmp_path, loss_method=method))
    trainer.model.eval()
    examples = [uneven_dataset[i] for i in range(6)]
    losses = []
    for side, order in (("right", examples), ("left", examples), ("right", examples[::-1])):
        batch = ScaleSFTCollator(processor=qwen_processor, padding_side=side)(order)
        with torch.no_grad():
            losses.append(trainer.compute_loss(trainer.model, batch).item())
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    assert losses[2] == pytest.approx(losses[0], rel=1e-5)


def test_resume_continues_schedule_and_losses_exactly(tiny_qwen_dir, qwen_processor, synthetic_dir, tmp_path):
    data = datasets.load_from_disk(str(synthetic_dir))["train"].select(range(24))
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
    full = _trainer(tiny_qwen_dir, qwen_processor, data, _config(tmp_path / "full", **common))
    full.train()
    interrupted = _trainer(tiny_qwen_dir, qwen_processor, data, _config(tmp_path / "resumed", **common))
    interrupted.train(resume_from_checkpoint=str(tmp_path / "full" / "checkpoint-3"))

    def logged(trainer):
        return {h["step"]: h for h in trainer.state.log_history if "loss" in h}

    full_logs, resumed_logs = logged(full), logged(interrupted)
    assert sorted(resumed_logs) == [1, 2, 3, 4, 5, 6]  # 1-3 come back with the checkpoint state
    weights = [full_logs[s]["answer_weight"] for s in range(1, 7)]
    assert weights == sorted(weights) and weights[0] < weights[-1]  # the cosine schedule moved
    for step in (4, 5, 6):
        for key in ("answer_weight", "loss", "loss_think", "loss_answer"):
            assert resumed_logs[step][key] == pytest.approx(full_logs[step][key], rel=1e-6), (step, key)
