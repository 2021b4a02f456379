"""Custom tags reach every command: ``inspect-data`` labels with them and ``convert`` writes its records in them
(the public sources it reads use the default tags)."""

from __future__ import annotations

import json

import datasets
from helpers import png

from scale_sft.cli import main

TAGS = ["--think_start_tag", "<reason>", "--think_end_tag", "</reason>",
        "--answer_start_tag", "<final>", "--answer_end_tag", "</final>"]  # fmt: skip


def _records(tmp_path):
    png(tmp_path / "a.png", "red")
    rows = [
        {"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": f"Q{i}?"}]},
                      {"role": "assistant", "content": [{"type": "text",
                       "text": f"<reason>\nstep one of {i}, step two.\n</reason>\n<final>{i}</final>"}]}],
         "images": ["a.png"]}
        for i in range(3)
    ]  # fmt: skip
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_inspect_data_labels_with_custom_tags(tmp_path, tiny_qwen_dir, capsys):
    path = _records(tmp_path)
    common = ["inspect-data", "--dataset", str(path), "--model", str(tiny_qwen_dir), "--out"]
    main([*common, str(tmp_path / "custom"), *TAGS])
    main([*common, str(tmp_path / "default")])
    custom = json.loads((tmp_path / "custom" / "token_stats.json").read_text())
    default = json.loads((tmp_path / "default" / "token_stats.json").read_text())
    assert custom["think_tokens"]["min"] > 5 and custom["data"]["direct_answer"] == 0
    assert default["think_tokens"]["max"] == 0 and default["data"]["direct_answer"] == 3  # no tag it knows


def test_convert_writes_custom_tags(tmp_path):
    png(tmp_path / "img.png", "blue")
    source = [{"image": "img.png", "conversations": [
        {"from": "human", "value": "<image>\nHow many?"},
        {"from": "gpt", "value": "<think>\nI count 4.\n</think>\nThe answer is 4."}]}]  # fmt: skip
    (tmp_path / "cold.json").write_text(json.dumps(source))
    main(["convert", "--source", "vision_r1", "--input", str(tmp_path / "cold.json"), "--out",
          str(tmp_path / "out"), *TAGS])  # fmt: skip
    record = datasets.load_from_disk(str(tmp_path / "out"))["train"][0]
    assert record["answer"] == "4" and record["answer_type"] == "numeric"
    assert record["messages"][1]["content"][0]["text"] == "<reason>\nI count 4.\n</reason>\n<final>4</final>"
