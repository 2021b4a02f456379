"""GRPO: rewards against the evaluation's scoring, and `scale-sft grpo` end to end from both SFT methods."""

import json

import pytest
import torch
from helpers import score_text

from scale_sft.cli import main
from scale_sft.grpo.rewards import (
    build_rewards,
    make_accuracy_reward,
    make_format_reward,
    make_length_penalty,
    repetition_penalty,
)
from scale_sft.tags import DEFAULT_TAGS, CotTags

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
    # Gamed formats: the training data rules (segments.answer_start) plus a non-empty answer.
    ("<think>a</think><answer></answer>", 0.0),  # empty answer
    ("<think>a</think><answer> \n </answer>", 0.0),  # whitespace answer
    ("<think></think><answer></answer>", 0.0),
    ("<think>a</think><think>b</think><answer>B</answer>", 0.0),  # two think blocks
    ("<think>a <answer>A</answer></think><answer>B</answer>", 0.0),  # an answer inside the reasoning
    ("<think>a</think><answer>B</answer><answer>C</answer>", 0.0),  # two answer blocks
    ("<think>a</think><answer>B</answer></answer>", 0.0),  # unbalanced answer tags
    ("</think>a<think><answer>B</answer>", 0.0),  # think tags out of order
    ("<think></think><answer>B</answer>", 0.0),  # no reasoning in the think block
    ("<think> \n </think><answer>B</answer>", 0.0),
    ("<THINK>a</THINK><answer>B</answer>", 0.0),  # near-miss tags
]


@pytest.mark.parametrize(("text", "expected"), FORMAT_CASES)
def test_format_reward(text, expected):
    conversational = [[{"role": "assistant", "content": text}]]
    assert make_format_reward()([text]) == [expected]
    assert make_format_reward()(conversational) == [expected]


BOXED = "<think>\nOkay. 2 + 3 = 5.\n</think>\n\nThe answer is $\\boxed{5}$."
BOXED_FORMAT_CASES = [  # R1-style records (answer_format "boxed"): the answer may be text with a \boxed{}
    (BOXED, 1.0, 0.0),
    ("<think>a</think><answer>5</answer>", 1.0, 1.0),  # an answer block still counts
    ("<think>a</think>\n\nThe answer is 5.", 0.0, 0.0),  # no boxed answer
    ("<think>a</think>\n\nThe answer is $\\boxed{ }$.", 0.0, 0.0),  # an empty one
    ("The answer is $\\boxed{5}$.", 0.0, 0.0),  # no reasoning
    ("<think>a \\boxed{5}</think>\n\nSo it is.", 0.0, 0.0),  # the box inside the reasoning is not the answer
]


@pytest.mark.parametrize(("text", "boxed", "tags"), BOXED_FORMAT_CASES)
def test_format_reward_reads_each_records_answer_format(text, boxed, tags):
    reward = make_format_reward()
    assert reward([text, text], answer_format=["boxed", "tags"]) == [boxed, tags]
    assert reward([text], answer_format=[None]) == [tags]  # no format: tags, as in evaluation


def test_accuracy_reward_reads_a_boxed_answer_only_for_boxed_records():
    reward = make_accuracy_reward()
    completions = [BOXED, BOXED, BOXED.replace("{5}", "{6}")]
    golds = {"answer": ["5", "5", "5"], "answer_type": ["numeric"] * 3}
    assert reward(completions, **golds, answer_format=["boxed", "tags", "boxed"]) == [1.0, 0.0, 0.0]
    assert reward(completions, **golds) == [0.0, 0.0, 0.0]  # datasets without the column: tags


def test_format_reward_custom_tags():
    tags = CotTags("<r>", "</r>", "<f>", "</f>")
    reward = make_format_reward(tags)
    assert reward(["<r>x</r><f>B</f>", "<r>x</r><f> </f>", "<think>x</think><answer>B</answer>"]) == [
        1.0,
        0.0,
        0.0,
    ]


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
    ("<think>So <answer>B</answer>.</think>\nDone.", "B", "multiple_choice", ["red", "blue"]),  # in the think
    ("<answer>B</answer> <think>x</think>", "B", "multiple_choice", ["red", "blue"]),  # before the think
    ("<think>x</think><answer>b. or a.</answer>", "B", "multiple_choice", ["red", "blue"]),  # a hedge
    ("<think>x</think><answer>3e5</answer>", "3", "numeric", []),  # 300000, not 3
]


def test_accuracy_reward_equals_evaluation_verdict():
    texts, golds, kinds, choices = zip(*ACCURACY_CASES, strict=True)
    rewards = make_accuracy_reward()(
        list(texts), answer=list(golds), answer_type=list(kinds), choices=list(choices)
    )
    verdicts = [float(score_text(t, g, k, c or None)["correct"]) for t, g, k, c in ACCURACY_CASES]
    assert rewards == verdicts
    assert rewards == [1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_accuracy_reward_takes_a_json_number_gold():
    texts = ["<think>x</think><answer>3</answer>", "<think>x</think><answer>4</answer>"]
    assert make_accuracy_reward()(texts, answer=[3, 3.0], answer_type=["numeric"] * 2) == [1.0, 0.0]


def test_penalties_and_reward_names():
    assert repetition_penalty(completion_ids=[[1, 2, 3, 4] * 3, list(range(12))]) == [-1.0, 0.0]
    length = build_rewards(["length"], DEFAULT_TAGS, 10)[0]
    assert length(completion_ids=[[0] * 5, [0] * 30]) == [-0.5, -1.0]
    with pytest.raises(ValueError, match="Unknown"):
        build_rewards(["format", "style"], DEFAULT_TAGS, 10)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: make_length_penalty(0), "max_tokens >= 1"),
        (lambda: make_length_penalty(-5), "max_tokens >= 1"),
        (lambda: make_length_penalty(2.5), "max_tokens >= 1"),
        (lambda: build_rewards(["length"], DEFAULT_TAGS, 0), "max_tokens >= 1"),
        (lambda: build_rewards([], DEFAULT_TAGS, 10), "no rewards"),
        (lambda: build_rewards(["format", "format"], DEFAULT_TAGS, 10), "more than once: \\['format'\\]"),
        (lambda: build_rewards(["format"], None, 10), "CotTags"),
    ],
)
def test_bad_reward_arguments_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_accuracy_reward_rejects_an_unreadable_gold():
    with pytest.raises(ValueError, match="cannot be read as numeric"):
        make_accuracy_reward()(["<answer>3</answer>"], answer=["many"], answer_type=["numeric"])


@pytest.fixture(scope="module")
def direct_dir(synthetic_dir, tmp_path_factory):
    """The synthetic records answered directly (`<answer>X</answer>`): briefly trained models then finish within
    16 tokens with sampled answers, so GRPO groups get different rewards."""
    import datasets

    from scale_sft.data.format import assistant_message

    data = datasets.load_from_disk(str(synthetic_dir))
    out = tmp_path_factory.mktemp("data") / "direct"
    data.map(
        lambda r: {"messages": [r["messages"][0], assistant_message(f"<answer>{r['answer']}</answer>")]}
    ).save_to_disk(out)
    return out


def _train(model, data, out, *flags):
    main(["train", "--model", str(model), "--dataset", str(data), "--output_dir", str(out), "--max_steps", "12",
          "--per_device_train_batch_size", "4", "--learning_rate", "3e-3", "--save_strategy", "no",
          "--report_to", "none", "--disable_tqdm", "true", *flags])  # fmt: skip
    return out


@pytest.fixture(scope="module")
def starts(tiny_qwen_dir, direct_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    return {
        "scale": _train(tiny_qwen_dir, direct_dir, root / "scale", "--loss_method", "scale"),
        "vanilla_lora": _train(
            tiny_qwen_dir, direct_dir, root / "vanilla-lora", "--loss_method", "vanilla", "--use_peft",
            "--lora_r", "8", "--lora_target_modules", "q_proj", "v_proj", "o_proj", "--learning_rate", "1e-2",
        ),
    }  # fmt: skip


@pytest.mark.parametrize("start", ["scale", "vanilla_lora"])
def test_grpo_cli(start, starts, synthetic_dir, tmp_path):
    from scale_sft.models.loading import load_model_and_processor

    checkpoint = starts[start]
    out = tmp_path / "grpo"
    main(["grpo", "--model", str(checkpoint), "--dataset", str(synthetic_dir), "--output_dir", str(out),
          "--max_steps", "2", "--num_generations", "4", "--per_device_train_batch_size", "4",
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
    # 1 prompt x 4 generations per step: the counter equals the logged completion lengths
    assert run["generated_tokens"] == pytest.approx(sum(4 * h["completions/mean_length"] for h in logs))
    # The policy moved (from the merged weights for the LoRA start), as the groups' rewards differed.
    assert any(h["reward_std"] > 0 for h in logs)
    before = load_model_and_processor(str(checkpoint))[0].state_dict()
    after = load_model_and_processor(str(out))[0].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in after)

    evaluated = tmp_path / "eval"
    main(["eval", "--model", str(out), "--data", str(synthetic_dir), "--limit", "4", "--max_new_tokens", "16",
          "--output_dir", str(evaluated)])  # fmt: skip
    assert json.loads((evaluated / "metrics.json").read_text())["overall"]["n"] == 4


def test_lora_checkpoint_loads_merged_and_trainable(starts):
    """A LoRA `train` output loads as a plain model whose every weight trains (PEFT had frozen the base)."""
    from scale_sft.models.loading import load_model_and_processor

    model, _ = load_model_and_processor(str(starts["vanilla_lora"]))
    assert not any("lora" in name for name, _ in model.named_parameters())
    assert all(p.requires_grad for p in model.parameters())


def test_grpo_resumed_from_a_checkpoint_continues_its_compute(starts, synthetic_dir, tmp_path):
    """A GRPO run resumed from its step-1 checkpoint: its record counts step 1's generated and policy tokens
    (from the checkpoint's compute.json) plus what the resumed step 2 generated."""
    out = tmp_path / "grpo"
    args = ["grpo", "--model", str(starts["scale"]), "--dataset", str(synthetic_dir), "--output_dir", str(out),
            "--num_generations", "4", "--per_device_train_batch_size", "4", "--max_completion_length", "16",
            "--logging_steps", "1", "--save_strategy", "steps", "--save_steps", "1", "--report_to", "none",
            "--disable_tqdm", "true", "--seed", "0"]  # fmt: skip
    main([*args, "--max_steps", "2"])  # a resume must keep max_steps: the schedules depend on it
    saved = json.loads((out / "checkpoint-1" / "compute.json").read_text())
    assert saved["step"] == 1 and saved["generated_tokens"] > 0 and saved["train_tokens"] > 0

    main([*args, "--max_steps", "2", "--resume_from_checkpoint", str(out / "checkpoint-1")])
    run = json.loads((out / "run.json").read_text())
    step_2 = next(
        h for h in json.loads((out / "trainer_state.json").read_text())["log_history"] if h.get("step") == 2
    )
    assert run["generated_tokens"] == run["compute"]["generated_tokens"]
    assert run["generated_tokens"] == pytest.approx(
        saved["generated_tokens"] + 4 * step_2["completions/mean_length"]
    )
    assert run["compute"]["train_tokens"] > saved["train_tokens"] and run["compute"]["cpu_s"] > saved["cpu_s"]
