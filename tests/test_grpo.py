"""GRPO: rewards against the evaluation's scoring, and `scale-sft grpo` end to end from both SFT methods."""

import json

import pytest
import torch
from safetensors.torch import load_file

from scale_sft.cli import main
from scale_sft.evaluation.scoring import score_item
from scale_sft.rl.rewards import build_rewards, make_accuracy_reward, make_format_reward, repetition_penalty

FORMAT_CASES = [
    ("<think>a</think><answer>B</answer>", 1.0),
    ("<think>\nrows...\n</think>\n<answer>3</answer>\n", 1.0),  # whitespace around and between is fine
    ("<think>a</think>\n\n<answer>B</answer>", 1.0),
    ("<think>a</think><answer>B", 0.0),  # missing close tag
    ("<think>a<answer>B</answer>", 0.0),  # think never closed
    ("<answer>B</answer><think>a</think>", 0.0),  # answer before think
    ("<think>a</think><answer>B</answer> Hope this helps!", 0.0),  # text after </answer>
    ("Sure. <think>a</think><answer>B</answer>", 0.0),  # text before <think>
    ("<think>a</think> so <answer>B</answer>", 0.0),  # text between the blocks
    ("<answer>B</answer>", 0.0),  # no reasoning
    ("", 0.0),
]


@pytest.mark.parametrize(("text", "expected"), FORMAT_CASES)
def test_format_reward(text, expected):
    conversational = [[{"role": "assistant", "content": text}]]
    assert make_format_reward()([text]) == [expected]
    assert make_format_reward()(conversational) == [expected]


ACCURACY_CASES = [
    ("<think>x</think><answer>B</answer>", "B", "multiple_choice", ["red", "blue"]),
    ("<think>x</think><answer>(b) blue</answer>", "B", "multiple_choice", ["red", "blue"]),
    ("<think>x</think><answer>blue</answer>", "B", "multiple_choice", ["red", "blue"]),
    ("<think>x</think><answer>A</answer>", "B", "multiple_choice", ["red", "blue"]),
    ("<think>x</think><answer>B or A</answer>", "B", "multiple_choice", ["red", "blue"]),
    ("<think>x</think><answer>3</answer>", "3", "numeric", []),
    ("<think>x</think><answer>three cars</answer>", "3", "numeric", []),
    ("<think>x</think><answer>3.0</answer>", "3", "numeric", []),
    ("<think>x</think><answer>4</answer>", "3", "numeric", []),
    ("<think>x</think><answer>3", "3", "numeric", []),  # malformed: no complete answer block
    ("<answer>2</answer> then <answer>3</answer>", "3", "numeric", []),  # the last block counts
    ("<think>x</think><answer>Triangle.</answer>", "triangle", "free_text", []),
]


def test_accuracy_reward_equals_evaluation_verdict():
    texts, golds, kinds, choices = zip(*ACCURACY_CASES, strict=True)
    rewards = make_accuracy_reward()(
        list(texts), answer=list(golds), answer_type=list(kinds), choices=list(choices)
    )
    verdicts = [
        float(score_item(t, g, k, c or None, 0, 0, False, [])["correct"]) for t, g, k, c in ACCURACY_CASES
    ]
    assert rewards == verdicts
    assert rewards == [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0]


def test_penalties_and_reward_names():
    assert repetition_penalty(completion_ids=[[1, 2, 3, 4] * 3, list(range(12))]) == [-1.0, 0.0]
    length = build_rewards(["length"], None, 10)[0]
    assert length(completion_ids=[[0] * 5, [0] * 30]) == [-0.5, -1.0]
    with pytest.raises(ValueError, match="Unknown"):
        build_rewards(["format", "style"], None, 10)


@pytest.fixture(scope="module")
def vanilla_lora_dir(tiny_qwen_dir, synthetic_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "vanilla-lora"
    main(["train", "--model", str(tiny_qwen_dir), "--dataset", str(synthetic_dir), "--output_dir", str(out),
          "--loss_method", "vanilla", "--use_peft", "--lora_r", "4", "--lora_target_modules", "q_proj", "v_proj",
          "--max_steps", "4",
          "--per_device_train_batch_size", "4", "--save_strategy", "no", "--report_to", "none",
          "--disable_tqdm", "true"])  # fmt: skip
    return out


@pytest.mark.parametrize("start", ["scale", "vanilla_lora"])
def test_grpo_cli(start, trained_qwen_dir, vanilla_lora_dir, tiny_qwen_dir, synthetic_dir, tmp_path):
    checkpoint = trained_qwen_dir if start == "scale" else vanilla_lora_dir
    out = tmp_path / "grpo"
    main(["grpo", "--model", str(checkpoint), "--dataset", str(synthetic_dir), "--output_dir", str(out),
          "--max_steps", "2", "--num_generations", "2", "--per_device_train_batch_size", "2",
          "--max_completion_length", "16", "--learning_rate", "1e-3", "--rewards", "format", "accuracy", "length",
          "--reward_weights", "1.0", "1.0", "0.5", "--logging_steps", "1", "--save_strategy", "no",
          "--report_to", "none", "--disable_tqdm", "true", "--seed", "0"])  # fmt: skip
    state = json.loads((out / "trainer_state.json").read_text())
    logs = [h for h in state["log_history"] if "reward" in h]
    assert len(logs) == 2
    for h in logs:
        for name in ("format_reward", "accuracy_reward", "length_penalty"):
            assert f"rewards/{name}/mean" in h
        assert h["rewards/length_penalty/mean"] < 0
    run = json.loads((out / "run.json").read_text())
    assert run["wall_clock_s"] > 0 and run["rewards"] == ["format", "accuracy", "length"]
    # 1 prompt x 2 generations per step: the counter equals the logged completion lengths
    assert run["generated_tokens"] == pytest.approx(sum(2 * h["completions/mean_length"] for h in logs))
    after = load_file(out / "model.safetensors")
    before = (
        load_file(tiny_qwen_dir / "model.safetensors")
        if start == "vanilla_lora"
        else load_file(checkpoint / "model.safetensors")
    )
    assert any(not torch.equal(before[k], after[k]) for k in after)

    evaluated = tmp_path / "eval"
    main(["eval", "--model", str(out), "--data", str(synthetic_dir), "--limit", "4", "--max_new_tokens", "16",
          "--output_dir", str(evaluated)])  # fmt: skip
    assert json.loads((evaluated / "metrics.json").read_text())["overall"]["n"] == 4
