"""The paper's data as it is published: Vision-R1-cold's two files and `Final Answer:` answers, LLaVA-CoT's
inline options, multi-round records, IconQA's image choices and original release, and GRPO data (R1-V,
Vision-R1 RL), through `convert` and `prepare_dataset`."""

import json

import pytest
from fixtures_sources import grpo_sources, iconqa_choose_img, iconqa_original, vision_r1_cold

from scale_sft.cli import main
from scale_sft.data.converters import convert
from scale_sft.data.format import instruction
from scale_sft.data.loading import load_cot_dataset
from scale_sft.data.prepare import prepare_dataset
from scale_sft.grpo.recipe import prompt_only

INSTRUCTION = instruction()


def _completion(record):
    return record["messages"][-1]["content"][0]["text"]


def _text(message):
    return "".join(part["text"] or "" for part in message["content"] if part["type"] == "text")


def _image_parts(message):
    return sum(part["type"] == "image" for part in message["content"])


def test_vision_r1_cold_llava_cot_part(tmp_path, qwen_processor):
    llava_cot, _ = vision_r1_cold(tmp_path)
    dataset, report = convert("vision_r1", str(llava_cot))
    assert (report.total, report.kept) == (4, 3)
    assert report.skipped == {"turns do not alternate user/assistant": 1}
    assert report.changed == {"answer instruction removed": 1}
    capital, cars, rounds = dataset

    assert (capital["answer"], capital["answer_type"]) == ("B", "multiple_choice")
    assert capital["choices"] == ["Seattle", "Juneau", "Boise", "Salem"]
    assert _completion(capital) == "<think>\nJuneau is the capital of Alaska.\n</think>\n<answer>B</answer>"

    assert _text(cars["messages"][0]) == f"How many cars are parked?\n{INSTRUCTION}"
    assert (cars["answer"], cars["answer_type"]) == ("3", "numeric")
    assert _completion(cars).endswith("<answer>3</answer>")

    roles = [m["role"] for m in rounds["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    first, reply, last = rounds["messages"][:3]
    assert (_image_parts(first), _text(first)) == (1, "What is shown?")  # context: no format instruction
    assert "Final Answer:a map" in _text(reply)  # earlier replies as published
    assert (_image_parts(last), _text(last)) == (
        0,
        f"Which colour dominates?\nA. red\nB. green\n{INSTRUCTION}",
    )
    assert (rounds["answer"], rounds["question"]) == ("B", "Which colour dominates?\nA. red\nB. green")

    kept, data_report = prepare_dataset(dataset, qwen_processor)
    assert (data_report.kept, data_report.direct_answer) == (3, 0)


def test_vision_r1_cold_mulberry_part_and_source_wording(tmp_path, qwen_processor):
    _, mulberry = vision_r1_cold(tmp_path)
    dataset, report = convert("vision_r1", str(mulberry))
    assert (report.kept, report.skipped) == (2, {"missing image": 1})
    assert report.changed == {"answer instruction removed": 1}
    angle, chart = dataset
    assert _text(angle["messages"][0]) == f"Find the angle x.\nChoices:\nA: 30°\nB: 60°\n{INSTRUCTION}"
    assert (angle["answer"], angle["answer_type"], angle["choices"]) == (
        "B",
        "multiple_choice",
        ["30°", "60°"],
    )
    assert _completion(angle).endswith("</think>\n<answer>B</answer>")
    assert (chart["answer"], chart["answer_type"]) == ("42", "numeric")

    kept_wording, _ = convert("vision_r1", str(mulberry), keep_source_answer=True)
    assert _completion(kept_wording[0]).endswith("</think>\n<answer>Final Answer:B</answer>")
    assert kept_wording["answer"] == ["B", "42"]  # the gold answer is normalised either way
    assert prepare_dataset(kept_wording, qwen_processor)[1].kept == 2
    with pytest.raises(ValueError, match="vision_r1 source only"):
        convert("r1v", str(mulberry), keep_source_answer=True)


@pytest.mark.parametrize(
    ("beside", "kept", "n_options", "answers"),
    [(False, 1, [2], ["B"]), (True, 3, [2, 3, 5], ["B", "C", "A"])],
)
def test_iconqa_choose_img_needs_every_named_choice(
    tmp_path, beside, kept, n_options, answers, qwen_processor
):
    path = iconqa_choose_img(tmp_path, beside)
    dataset, report = convert("iconqa", str(path), split="test")
    assert report.kept == kept
    assert report.skipped == ({} if beside else {"choice image not available": 2})
    assert [len(c) for c in dataset["choices"]] == n_options
    assert [len(images) for images in dataset["images"]] == [n + 1 for n in n_options]
    assert dataset["answer"] == answers
    assert prepare_dataset(dataset, qwen_processor)[1].kept == kept


def test_iconqa_original_release(tmp_path, qwen_processor):
    path = iconqa_original(tmp_path / "iconqa_data")
    dataset, report = convert("iconqa", str(path), split="test")
    assert (report.total, report.kept, report.skipped) == (4, 3, {"answer index out of range": 1})
    clock, square, dots = dataset
    assert (clock["id"], clock["answer"], clock["choices"]) == ("iconqa-100", "B", ["3:00", "4:00"])
    assert (square["answer"], square["choices"], len(square["images"])) == (
        "C",
        ["image 1", "image 2", "image 3"],
        4,
    )
    assert (dots["answer"], dots["answer_type"], dots["category"]) == ("7", "numeric", "fill_in_blank")
    assert convert("iconqa", str(path), split="train")[0]["id"] == ["iconqa-103"]
    assert prepare_dataset(dataset, qwen_processor)[1].kept == 3


def test_grpo_sources_give_records_grpo_takes(tmp_path, qwen_processor):
    path_r1v, path_rl = grpo_sources(tmp_path)
    r1v, report = convert("r1v", str(path_r1v))
    assert (report.kept, report.skipped) == (2, {"empty answer": 1})
    assert (r1v["answer"], r1v["answer_type"]) == (["3", "B"], ["numeric", "multiple_choice"])
    assert [_completion(r) for r in r1v] == ["<answer>3</answer>", "<answer>B</answer>"]

    out = tmp_path / "rl"
    main(["convert", "--source", "vision_r1_rl", "--input", str(path_rl), "--out", str(out)])
    rl = load_cot_dataset(str(out))
    assert rl["answer"] == ["B", "12"] and rl["choices"] == [["1", "2"], []]
    assert rl["answer_type"] == ["multiple_choice", "numeric"]

    kept, data_report = prepare_dataset(rl, qwen_processor)
    assert (data_report.kept, data_report.direct_answer) == (2, 2)
    prompts = prompt_only(kept)
    assert set(prompts.column_names) == {"prompt", "images", "answer", "answer_type", "choices"}
    assert [m["role"] for m in prompts[0]["prompt"]] == ["user"]
    assert _text(prompts[0]["prompt"][0]) == f"What is x? Options: (A) 1 (B) 2\n{INSTRUCTION}"


def test_converted_grpo_data_through_scale_sft_grpo(tmp_path, tiny_qwen_dir):
    """`convert --source r1v` output goes to `scale-sft grpo` unchanged (one step on the tiny model)."""
    path_r1v, _ = grpo_sources(tmp_path)
    data, out = tmp_path / "r1v", tmp_path / "grpo"
    main(["convert", "--source", "r1v", "--input", str(path_r1v), "--out", str(data)])
    main(["grpo", "--model", str(tiny_qwen_dir), "--dataset", str(data), "--output_dir", str(out),
          "--max_steps", "1", "--num_generations", "2", "--per_device_train_batch_size", "2",
          "--max_completion_length", "8", "--rewards", "format", "accuracy", "--logging_steps", "1",
          "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true", "--seed", "0"])  # fmt: skip
    run = json.loads((out / "run.json").read_text())
    assert run["data"] == {"total": 2, "kept": 2, "direct_answer": 2, "skipped": {}}
    assert run["global_step"] == 1 and run["generated_tokens"] > 0


def test_published_layouts_through_train_and_eval(tmp_path, tiny_qwen_dir):
    """Vision-R1-cold's LLaVA-CoT file converted and trained on (one step); the original IconQA release
    evaluated straight from its problems.json (`eval --benchmark iconqa --data`)."""
    llava_cot, _ = vision_r1_cold(tmp_path / "vr1")
    data, trained = tmp_path / "vr1_data", tmp_path / "trained"
    main(["convert", "--source", "vision_r1", "--input", str(llava_cot), "--out", str(data)])
    main(["train", "--model", str(tiny_qwen_dir), "--dataset", str(data), "--output_dir", str(trained),
          "--max_steps", "1", "--per_device_train_batch_size", "3", "--save_strategy", "no",
          "--report_to", "none", "--disable_tqdm", "true"])  # fmt: skip
    run = json.loads((trained / "run.json").read_text())
    assert run["data"]["kept"] == 3 and run["global_step"] == 1

    problems, evaluated = iconqa_original(tmp_path / "iconqa_data"), tmp_path / "eval"
    main(["eval", "--model", str(trained), "--benchmark", "iconqa", "--data", str(problems),
          "--max_new_tokens", "8", "--output_dir", str(evaluated)])  # fmt: skip
    rows = [json.loads(line) for line in (evaluated / "predictions.jsonl").read_text().splitlines()]
    rows.sort(key=lambda r: r["index"])  # written in generation order; `index` is the record's position
    assert [r["id"] for r in rows] == ["iconqa-100", "iconqa-101", "iconqa-102"]
    assert [r["gold"] for r in rows] == ["B", "C", "7"]
