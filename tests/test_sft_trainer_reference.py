"""``ScaleSFTTrainer`` against a plain reference written here, for each of the paper's three families and a
text-only causal LM (Qwen2, the Qwen2.5 text architecture, on R1-style records with ``\\boxed{}`` answers).

The reference shares nothing with the package's labelling or loss: the tiny models are built with the tags as
single special tokens, so the segments can be read off the token ids (the completion starts where the
tokenised generation prompt ends; THINK runs up to and including the ``</think>`` token, ANSWER is the rest of
the sequence); the loss comes from the full vocabulary logits (``log_softmax``, labels shifted by one), the
per-sample (or, with ``segment_normalization="step"``, the whole batch's) segment means and the scheduled
weight, in float64; the gradient from autograd. One SGD step of the trainer (learning rate 1, no clipping),
split 2 x 2 by gradient accumulation, must move every parameter by exactly minus that gradient. An off-by-one shared by the collator and the trainer would fail here.
"""

from __future__ import annotations

import json

import datasets
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor

from scale_sft import ScaleSFTConfig, ScaleSFTTrainer
from scale_sft.data.format import assistant_message, cot_completion, user_message
from scale_sft.data.synthetic import draw_scene, make_records
from scale_sft.data.synthetic_text import make_text_records
from scale_sft.models.tiny import make_tiny_model
from scale_sft.schedules import answer_weight
from scale_sft.tags import DEFAULT_TAGS

pytestmark = pytest.mark.integration  # builds and trains a model per family

W_START, W_END = 0.3, 0.9  # not the defaults, so a trainer that ignored them would fail
ARCHS = ("qwen2_5_vl", "gemma3", "llava_next", "qwen2_text")
THINKS = ["Short.", None, "A longer chain of thought.\nIt has two lines and more words.", "Mid length."]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("reference")
    return {arch: make_tiny_model(root / arch, arch=arch, special_tags=True, seed=1) for arch in ARCHS}


def _text_records() -> list[dict]:
    """Four R1-style records (no answer tags, ``\\boxed{}`` answers), as ``_records`` varies them."""
    rows = []
    for record, think in zip(make_text_records(4, seed=7), THINKS, strict=True):
        answer = f"The answer is $\\boxed{{{record['answer'] * (1 + len(rows))}}}$."
        target = answer if think is None else f"<think>\n{think}\n</think>\n\n{answer}"
        rows.append({"messages": [{"role": "user", "content": record["question"]},
                                  {"role": "assistant", "content": target}]})  # fmt: skip
    return rows


def _records(arch: str) -> list[dict]:
    """Four records with different THINK and ANSWER lengths, one of them a direct answer."""
    if arch == "qwen2_text":
        return _text_records()
    records = make_records(4, seed=7)
    rows = []
    for record, think in zip(records, THINKS, strict=True):
        answer = record["answer"] * (1 + len(rows))  # answers of different lengths too
        target = f"<answer>{answer}</answer>" if think is None else cot_completion(think, answer)
        rows.append({"messages": [user_message(record["question"]), assistant_message(target)],
                     "images": [draw_scene(json.loads(record["scene"]))]})  # fmt: skip
    return rows


def _reference_segments(processor, record: dict) -> tuple[dict, torch.Tensor]:
    """Model inputs of one record and its segment ids (0/1/2), from token ids alone."""
    tokenizer = getattr(processor, "tokenizer", processor)  # a text-only model's processor is its tokenizer
    images = {"images": record["images"]} if "images" in record else {}
    prompt = processor.apply_chat_template(record["messages"][:1], tokenize=False, add_generation_prompt=True)
    text = processor.apply_chat_template(record["messages"], tokenize=False)
    assert text.startswith(prompt)
    # BOS by transformers' own rule: the tokenizer adds it unless the template already wrote it
    bos = tokenizer.bos_token
    add = not (bos and text.startswith(bos))
    inputs = processor(text=[text], add_special_tokens=add, return_tensors="pt", **images)
    prompt_ids = processor(text=[prompt], add_special_tokens=add, **images)["input_ids"][0]
    ids = inputs["input_ids"][0]
    start = len(prompt_ids)
    assert ids[:start].tolist() == list(prompt_ids)  # the prompt tokenises the same inside the sample
    segments = torch.zeros_like(ids)
    segments[start:] = 2
    think_end = tokenizer.convert_tokens_to_ids(DEFAULT_TAGS.think_end)
    closing = [i for i in range(start, len(ids)) if ids[i] == think_end]
    if closing:
        segments[start : closing[0] + 1] = 1
    return inputs, segments


def _reference_loss(model, processor, records: list[dict], method: str, weight: float) -> torch.Tensor:
    """The batch loss from full logits: SCALe per-sample (``"scale"``) or per-batch (``"step"``) segment means
    mixed by ``weight``, or the token mean (``"vanilla"``)."""
    per_sample, ce_sum, n_tokens, thinks, answers = [], 0.0, 0, [], []
    for record in records:
        inputs, segments = _reference_segments(processor, record)
        logits = model(**inputs, use_cache=False).logits[0].double()
        ce = -torch.log_softmax(logits[:-1], dim=-1).gather(1, inputs["input_ids"][0, 1:, None])[:, 0]
        target = segments[1:]  # position t predicts token t + 1
        think, answer = ce[target == 1], ce[target == 2]
        if think.numel():
            per_sample.append((1 - weight) * think.mean() + weight * answer.mean())
        else:
            per_sample.append(answer.mean())
        ce_sum = ce_sum + think.sum() + answer.sum()
        n_tokens += think.numel() + answer.numel()
        thinks.append(think)
        answers.append(answer)
    if method == "step":
        return (1 - weight) * torch.cat(thinks).mean() + weight * torch.cat(answers).mean()
    return torch.stack(per_sample).mean() if method == "scale" else ce_sum / n_tokens


@pytest.mark.parametrize("method", ["scale", "step", "vanilla"])
@pytest.mark.parametrize("arch", ARCHS)
def test_trainer_step_matches_full_logits_reference(arch, method, models, tmp_path):
    processor = AutoProcessor.from_pretrained(models[arch])
    records = _records(arch)
    auto_model = AutoModelForCausalLM if arch == "qwen2_text" else AutoModelForImageTextToText
    reference_model = auto_model.from_pretrained(models[arch])
    weight = answer_weight(0.0, "cosine", W_START, W_END)
    expected_loss = _reference_loss(reference_model, processor, records, method, weight)
    expected_loss.backward()
    grads = {n: p.grad.clone() for n, p in reference_model.named_parameters() if p.grad is not None}

    config = ScaleSFTConfig(
        output_dir=str(tmp_path), loss_method="scale" if method == "step" else method,
        segment_normalization="step" if method == "step" else "sample",
        answer_weight_start=W_START, answer_weight_end=W_END,
        optim="sgd", learning_rate=1.0, lr_scheduler_type="constant", max_grad_norm=0.0, max_steps=1,
        per_device_train_batch_size=2, gradient_accumulation_steps=2, logging_steps=1, save_strategy="no",
        report_to="none", seed=0, dataloader_num_workers=0, disable_tqdm=True, max_length=None,
    )  # fmt: skip
    dataset = datasets.Dataset.from_list(records)
    model = auto_model.from_pretrained(models[arch])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer = ScaleSFTTrainer(model, args=config, train_dataset=dataset, processing_class=processor)
    trainer.train()

    logged = trainer.state.log_history[0]
    assert logged["loss"] == pytest.approx(expected_loss.item(), rel=1e-4)
    worst, scale = 0.0, 0.0
    for name, param in trainer.model.named_parameters():
        update = (param.detach() - before[name]).double()
        expected = -grads.get(name, torch.zeros_like(param)).double()
        worst = max(worst, (update - expected).abs().max().item())
        scale = max(scale, expected.abs().max().item())
    assert scale > 1e-3  # the step moved the parameters
    assert worst < 1e-4 * scale, f"max update difference {worst} (largest gradient {scale})"
