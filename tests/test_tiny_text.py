"""Text-only reasoning models: the tiny Qwen2 (rendering like Qwen2.5-Instruct, loaded as a causal LM), R1-style
records (``<think>..</think>`` then a ``\\boxed{}`` answer, no answer tags) through the record checks, the collator
and ``inspect-data``, the synthetic text task, and ``make-tiny-model`` -> ``make-data`` -> ``train`` -> ``eval``
-> ``grpo`` from the command line."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from scale_sft.answers import parse_generation
from scale_sft.cli import main
from scale_sft.data.format import render_prompt, render_sample
from scale_sft.data.loading import DataError, load_cot_dataset
from scale_sft.data.prepare import prepare_dataset
from scale_sft.data.synthetic_text import BOXED_INSTRUCTION, make_text_records
from scale_sft.evaluation.scoring import reasoning_conclusion
from scale_sft.grpo.recipe import prompt_only
from scale_sft.models.loading import freeze_vision_tower, is_text_only_checkpoint, load_model_and_processor
from scale_sft.segments import ANSWER, THINK, answer_start
from scale_sft.sft.collator import ScaleSFTCollator

QUESTION = "What is 2 + 3?"
REPLY = "<think>\nOkay. 2 + 3 = 5.\nSo the answer is 5.\n</think>\n\nThe answer is $\\boxed{5}$."
CONVERSATION = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": REPLY}]
# what Qwen/Qwen2.5-1.5B-Instruct's published template renders for CONVERSATION (its default system prompt)
PUBLISHED_PROMPT = (
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\nWhat is 2 + 3?<|im_end|>\n<|im_start|>assistant\n"
)


def test_renders_like_qwen2_5_instruct_without_bos(text_tokenizer):
    assert text_tokenizer.bos_token is None and type(text_tokenizer).__name__ == "Qwen2Tokenizer"
    text, spans = render_sample(text_tokenizer, CONVERSATION)
    assert text == PUBLISHED_PROMPT + REPLY + "<|im_end|>\n"
    assert render_prompt(text_tokenizer, CONVERSATION) == PUBLISHED_PROMPT
    # the completion is the reply + end of turn; ANSWER starts right after </think>
    assert spans.completion_from_end == len(REPLY) + len("<|im_end|>\n")
    assert text[len(text) - spans.answer_from_end :] == "\n\nThe answer is $\\boxed{5}$.<|im_end|>\n"
    # text parts render as the string they hold (the published template only takes strings)
    parts = [{**m, "content": [{"type": "text", "text": m["content"]}]} for m in CONVERSATION]
    assert render_sample(text_tokenizer, parts) == (text, spans)
    with pytest.raises(ValueError, match="text-only"):
        render_prompt(text_tokenizer, [{"role": "user", "content": [{"type": "image"}]}])


def test_loaded_as_a_causal_lm_with_its_tokenizer(tiny_text_dir, tiny_qwen_dir):
    assert is_text_only_checkpoint(str(tiny_text_dir)) and not is_text_only_checkpoint(str(tiny_qwen_dir))
    model, processor = load_model_and_processor(str(tiny_text_dir))
    assert type(model).__name__ == "Qwen2ForCausalLM" and type(processor).__name__ == "Qwen2Tokenizer"
    assert (tiny_text_dir / "model.safetensors").exists()
    with pytest.raises(ValueError, match="No vision tower"):
        freeze_vision_tower(model)
    with pytest.raises(ValueError, match="no image processor"):
        load_model_and_processor(str(tiny_text_dir), processor_options={"max_pixels": 1000})


@pytest.mark.parametrize("tail", ["\n\nThe answer is $\\boxed{5}$.", "\n<answer>5</answer>"])
def test_segments_token_by_token(text_tokenizer, tail):
    """THINK runs from <think> to </think> included; everything after (answer tags or not) is ANSWER."""
    reply = "<think>\nOkay. 2 + 3 = 5.\n</think>" + tail
    batch = ScaleSFTCollator(processor=text_tokenizer)(
        [{"messages": [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": reply}]}]
    )
    ids, segments = batch["input_ids"][0].tolist(), batch["segment_ids"][0].tolist()
    decode = text_tokenizer.decode

    def text_of(segment):
        return decode([i for i, s in zip(ids, segments, strict=True) if s == segment])

    assert text_of(0) == PUBLISHED_PROMPT
    think, answer = text_of(THINK), text_of(ANSWER)
    # a token belongs to the segment of its first character: `>\n` after </think> stays THINK
    assert think + answer == reply + "<|im_end|>\n"
    assert think.startswith("<think>\nOkay.") and think.rstrip("\n").endswith("</think>")
    assert answer.endswith(tail.lstrip("\n") + "<|im_end|>\n") and "think" not in answer
    assert batch["labels"][0].tolist() == [-100 if s == 0 else i for i, s in zip(ids, segments, strict=True)]


def test_collator_refuses_images_for_a_text_model(text_tokenizer):
    record = {"messages": CONVERSATION, "images": [Image.new("RGB", (8, 8))]}
    with pytest.raises(ValueError, match="text-only"):
        ScaleSFTCollator(processor=text_tokenizer)([record])


def _r1(question: str, reply: str, **extra) -> dict:
    return {
        "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": reply}],
        **extra,
    }


def test_r1_jsonl_records_checked_with_counted_skips(tmp_path, text_tokenizer):
    records = [
        _r1("Q1?", REPLY),
        _r1("Q2?", "<think>\nx\n</think>\n<answer>4</answer>"),  # answer tags are optional, and allowed
        _r1("Q3?", "The answer is \\boxed{3}."),  # a direct answer
        _r1("Q4?", "<think>a</think><think>b</think> \\boxed{1}"),  # two think blocks
        _r1("Q5?", "<think>\nno answer after it\n</think>\n"),  # nothing after </think>
        _r1("Q6?", "\\boxed{2}</think>"),  # a closing tag alone
        {"messages": [{"role": "user", "content": "Q7?"}]},  # no assistant target
    ]
    path = tmp_path / "r1.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    kept, report = prepare_dataset(load_cot_dataset(str(path)), text_tokenizer)
    assert (report.total, report.kept, report.direct_answer) == (7, 3, 1)
    assert dict(report.skipped) == {
        "malformed: several think blocks": 1,
        "malformed: nothing after the think block": 1,
        "malformed: only one think tag": 1,
        "no assistant target": 1,
    }
    assert "images" not in kept.column_names  # TRL would take the (empty) column for a vision dataset
    assert [m[0]["content"] for m in kept["messages"]] == ["Q1?", "Q2?", "Q3?"]
    with pytest.raises(DataError, match="Record 3"):
        prepare_dataset(load_cot_dataset(str(path)), text_tokenizer, malformed="error")


def test_records_with_images_are_skipped_for_a_text_model(tmp_path, text_tokenizer):
    """Text-part contents train a text model; a record with an image is skipped and counted."""
    Image.new("RGB", (8, 8)).save(tmp_path / "img.png")

    def record(parts, images):
        return {"messages": [{"role": "user", "content": parts},
                             {"role": "assistant", "content": [{"type": "text", "text": REPLY}]}], "images": images}  # fmt: skip

    path = tmp_path / "mixed.json"
    path.write_text(json.dumps([
        record([{"type": "text", "text": QUESTION}], []),
        record([{"type": "image"}, {"type": "text", "text": QUESTION}], ["img.png"]),
    ]))  # fmt: skip
    kept, report = prepare_dataset(load_cot_dataset(str(path)), text_tokenizer)
    assert report.kept == 1 and dict(report.skipped) == {"images for a text-only model": 1}
    assert "images" not in kept.column_names
    batch = ScaleSFTCollator(processor=text_tokenizer)([kept[0]])
    expected = ScaleSFTCollator(processor=text_tokenizer)([{"messages": CONVERSATION}])
    assert batch["input_ids"].tolist() == expected["input_ids"].tolist()
    assert batch["segment_ids"].tolist() == expected["segment_ids"].tolist()


def _value(expression: str) -> int:
    """The value of ``a + b - c`` (single spaces between numbers and signs)."""
    tokens = expression.split()
    total = int(tokens[0])
    for sign, number in zip(tokens[1::2], tokens[2::2], strict=True):
        total += int(number) if sign == "+" else -int(number)
    return total


def test_synthetic_text_task():
    records = make_text_records(50, seed=0)
    assert records == make_text_records(50, seed=0) and records != make_text_records(50, seed=1)
    for record in records:
        question, reply = (m["content"] for m in record["messages"])
        assert question == f"{record['question']}\n{BOXED_INSTRUCTION}"
        expression = record["question"].removeprefix("What is ").removesuffix("?")
        assert str(_value(expression)) == record["answer"] and int(record["answer"]) >= 0
        assert answer_start(reply) == reply.index("</think>") + len("</think>")
        parsed = parse_generation(reply, answer_format="boxed")
        assert parsed.answer == record["answer"] and parsed.think == record["think"]
        assert parse_generation(reply).malformed  # in the tags format there is no final answer
        assert reasoning_conclusion(parsed.think, "numeric") == record["answer"]
        for line in record["think"].splitlines()[2:-1]:  # every step computes its running total right
            left, right = line.rstrip(".").split(" = ")
            assert str(_value(left)) == right
    assert {r["question_type"] for r in records} == {"2_terms", "3_terms", "4_terms"}


@pytest.mark.integration
def test_text_run_from_the_command_line(tmp_path, capsys):
    """make-tiny-model -> make-data -> train -> eval (and inspect-data) for a text-only model."""
    model, data, out, scores = (tmp_path / name for name in ("model", "data", "run", "eval"))
    main(["make-tiny-model", "--arch", "qwen2_text", "--out", str(model)])
    main(["make-data", "--task", "text", "--out", str(data), "--n", "32", "--n_test", "6"])
    main(["train", "--model", str(model), "--dataset", str(data), "--output_dir", str(out),
          "--max_steps", "4", "--per_device_train_batch_size", "4", "--learning_rate", "3e-3",
          "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--logging_steps", "2"])  # fmt: skip
    run = json.loads((out / "run.json").read_text())
    assert run["data"] == {"total": 32, "kept": 32, "direct_answer": 0, "skipped": {}}
    logs = [h for h in json.loads((out / "trainer_state.json").read_text())["log_history"] if "loss" in h]
    assert len(logs) == 2
    for entry in logs:
        assert entry["loss_think"] > 0 and entry["loss_answer"] > 0
        assert entry["think_tokens"] > 3 * entry["answer_tokens"] > 0  # the imbalance SCALe corrects
    assert 0.2 <= logs[0]["answer_weight"] < logs[1]["answer_weight"] <= 0.8  # the cosine schedule moved

    main(["eval", "--model", str(out), "--benchmark", "synthetic_text", "--data", str(data),
          "--max_new_tokens", "24", "--batch_size", "4", "--output_dir", str(scores)])  # fmt: skip
    metrics = json.loads((scores / "metrics.json").read_text())
    assert metrics["run"]["n_records"] == 6 and metrics["run"]["answer_format"] is None
    rows = [json.loads(line) for line in (scores / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    for row in rows:  # the records' own answer_format ("boxed") was applied
        assert row["malformed"] == parse_generation(row["generation"], answer_format="boxed").malformed
    overall = metrics["overall"]
    for key in ("accuracy", "malformed_rate", "unfinished_rate", "loop_rate", "think_tokens_mean"):
        assert key in overall
    assert set(metrics["groups"]) <= {"2_terms", "3_terms", "4_terms"}

    # GRPO from the text run: string prompts, the boxed answers read by both rewards
    main(["grpo", "--model", str(out), "--dataset", str(data), "--output_dir", str(tmp_path / "grpo"),
          "--max_steps", "1", "--num_generations", "2", "--per_device_train_batch_size", "2",
          "--max_completion_length", "16", "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none",
          "--disable_tqdm", "true"])  # fmt: skip
    grpo_run = json.loads((tmp_path / "grpo" / "run.json").read_text())
    assert grpo_run["data"]["kept"] == 32 and grpo_run["generated_tokens"] > 0
    grpo_logs = json.loads((tmp_path / "grpo" / "trainer_state.json").read_text())["log_history"]
    assert "rewards/format_reward/mean" in grpo_logs[0] and "rewards/accuracy_reward/mean" in grpo_logs[0]
    prompts = prompt_only(load_cot_dataset(str(data), "train"))
    assert prompts[0]["answer_format"] == "boxed"
    assert [m["role"] for m in prompts[0]["prompt"]] == ["user"] and isinstance(
        prompts[0]["prompt"][0]["content"], str
    )

    capsys.readouterr()
    main(["inspect-data", "--dataset", str(data), "--model", str(model), "--out", str(tmp_path / "inspect")])
    stats = json.loads((tmp_path / "inspect" / "token_stats.json").read_text())
    assert stats["data"]["kept"] == 32 and stats["think_tokens"]["mean"] > 3 * stats["answer_tokens"]["mean"]
    assert "THINK/ANSWER" in capsys.readouterr().out


# DeepSeek-R1-Distill's template keeps only what follows </think> in an assistant turn.
STRIPPING_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<|im_start|>user\n{{ m['content'] }}<|im_end|>\n"
    "{% else %}<|im_start|>assistant\n{{ m['content'].split('</think>')[-1] }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_a_template_that_drops_the_reasoning_is_refused(text_tokenizer):
    """Otherwise the record would silently train as a direct answer (no THINK tokens at all)."""
    with pytest.raises(ValueError, match="rewrites the assistant reply"):
        render_sample(text_tokenizer, CONVERSATION, chat_template=STRIPPING_TEMPLATE)


def test_answer_format_from_the_record_or_the_command():
    from scale_sft.answers import read_gold
    from scale_sft.evaluation.runner import check_eval_args, score_record
    from scale_sft.evaluation.scoring import Generation

    record = make_text_records(1, seed=0)[0]
    reply = record["messages"][1]["content"]
    samples = [Generation(reply, [], 0, 0, hit_max_new_tokens=False)]

    def malformed(answer_format):
        (row,) = score_record(record, read_gold(record), samples, answer_format=answer_format)
        return row["malformed"], row["correct"]

    assert malformed(None) == (False, True)  # the record's own answer_format: "boxed"
    assert malformed("tags") == (True, False)  # the command's choice wins
    assert malformed(None) == malformed("boxed")
    with pytest.raises(ValueError, match="answer_format"):
        check_eval_args(None, 1, 1, 0.0, 1, answer_format="latex")


def test_lora_on_a_text_model_loads_back_merged(tiny_text_dir, synthetic_text_dir, tmp_path):
    """`train --use_peft` saves an adapter; loading it finds the text-only base and merges the adapter in."""
    import torch
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    main(["train", "--model", str(tiny_text_dir), "--dataset", str(synthetic_text_dir), "--output_dir", str(out),
          "--max_steps", "2", "--per_device_train_batch_size", "2", "--learning_rate", "0.01", "--use_peft",
          "--lora_r", "4", "--lora_alpha", "8", "--lora_target_modules", "q_proj", "v_proj",
          "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true"])  # fmt: skip
    assert (out / "adapter_config.json").exists()
    merged, tokenizer = load_model_and_processor(str(out))
    base = AutoModelForCausalLM.from_pretrained(tiny_text_dir).state_dict()
    assert type(merged).__name__ == "Qwen2ForCausalLM" and type(tokenizer).__name__ == "Qwen2Tokenizer"
    changed = {k for k, v in merged.state_dict().items() if not torch.equal(v, base[k])}
    assert changed and all(k.endswith(("q_proj.weight", "v_proj.weight")) for k in changed)


def test_grpo_prompts_for_a_text_model_are_strings_even_from_text_parts():
    import datasets

    parts = [{"type": "text", "text": "What is "}, {"type": "text", "text": "2 + 3?"}]
    records = datasets.Dataset.from_list(
        [
            {
                "messages": [
                    {"role": "user", "content": parts},
                    {"role": "assistant", "content": [{"type": "text", "text": REPLY}]},
                ],
                "answer": "5",
                "answer_type": "numeric",
            }
        ]  # fmt: skip
    )
    assert prompt_only(records, text_only=True)[0]["prompt"] == [{"role": "user", "content": QUESTION}]
    kept = prompt_only(records)[0]["prompt"][0]["content"]  # a vision-language processor takes the parts
    assert kept == parts
