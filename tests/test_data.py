"""Loading and filtering: every unusable record is skipped and counted (or raises with malformed='error')."""

import json

import datasets
import pytest
from PIL import Image

from scale_sft.data.format import assistant_message, cot_completion, user_message
from scale_sft.data.loading import DataError, load_cot_dataset
from scale_sft.data.prepare import prepare_dataset


def _record(completion, image="img.png", question="How many?"):
    return {"messages": [user_message(question), assistant_message(completion)], "images": [image]}


@pytest.fixture
def json_dataset(tmp_path):
    Image.new("RGB", (56, 56), "red").save(tmp_path / "img.png")
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    records = [
        _record(cot_completion("two red shapes", "2")),  # kept
        _record("<answer>3</answer>"),  # kept, direct answer
        _record("<think>no end <answer>3</answer>"),  # malformed: one tag
        _record("</think>x<think><answer>1</answer>"),  # malformed: out of order
        _record("<think>all reasoning</think>"),  # malformed: nothing after
        _record(cot_completion("ok", "1"), image="missing.png"),  # missing image
        _record(cot_completion("ok", "1"), image="corrupt.png"),  # unreadable image
        _record(cot_completion("word " * 400, "1")),  # longer than max_length
    ]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    return path


def test_skips_are_counted(json_dataset, qwen_processor):
    raw = load_cot_dataset(str(json_dataset))
    kept, report = prepare_dataset(raw, qwen_processor, max_length=300)
    assert (report.total, report.kept, report.direct_answer) == (8, 2, 1)
    assert report.skipped == {
        "malformed: only one think tag": 1,
        "malformed: think tags out of order": 1,
        "malformed: nothing after the think block": 1,
        "missing image": 1,
        "unreadable image": 1,
        "longer than max_length": 1,
    }
    assert len(kept) == 2 and isinstance(kept[0]["images"][0], Image.Image)
    assert "2/8 records kept" in report.summary()


def test_malformed_error_raises_with_the_record(json_dataset, qwen_processor):
    raw = load_cot_dataset(str(json_dataset))
    with pytest.raises(DataError, match="Record 2 .*only one think tag"):
        prepare_dataset(raw, qwen_processor, malformed="error")


def test_no_trainable_record_is_an_error(tmp_path, qwen_processor):
    data = datasets.Dataset.from_list([_record("<think>x</think>", image=None) | {"images": []}])
    with pytest.raises(DataError, match="No trainable records"):
        prepare_dataset(data, qwen_processor)


def test_load_from_disk_and_bad_paths(synthetic_dir, tmp_path):
    train = load_cot_dataset(str(synthetic_dir), "train")
    assert len(train) == 64 and {"messages", "images", "answer"} <= set(train.column_names)
    with pytest.raises(DataError, match="splits"):
        load_cot_dataset(str(synthetic_dir), "validation")
    with pytest.raises(FileNotFoundError):
        load_cot_dataset(str(tmp_path / "nope.jsonl"))
    (tmp_path / "data.csv").write_text("a,b")
    with pytest.raises(DataError, match="expected"):
        load_cot_dataset(str(tmp_path / "data.csv"))
