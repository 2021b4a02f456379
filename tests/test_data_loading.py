"""``load_cot_dataset`` / ``read_records`` on careless or hostile files: no field lost between records, shape
errors named or normalised, bad bytes named by line, typos never sent to the hub, images kept in the data
folder unless allowed."""

import json

import pytest
from helpers import png

from scale_sft.data.loading import DataError, load_cot_dataset
from scale_sft.data.prepare import prepare_dataset
from scale_sft.evaluation.benchmarks import get_benchmark


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _conversation(answer="<think>a</think><answer>b</answer>", user="Q?"):
    return [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]


def test_a_field_absent_from_the_first_record_is_kept(tmp_path):
    records = [
        {"id": "n", "messages": _conversation(), "answer": "3", "answer_type": "numeric"},
        {"id": "mc", "messages": _conversation(), "answer": "B", "answer_type": "multiple_choice",
         "choices": ["red", "blue"], "answer_format": "boxed"},
    ]  # fmt: skip
    data = load_cot_dataset(str(_jsonl(tmp_path / "d.jsonl", records)))
    assert {"choices", "answer_format"} <= set(data.column_names)
    assert data[1]["choices"] == ["red", "blue"] and data[1]["answer_format"] == "boxed"
    assert data[0]["choices"] is None and data[0]["answer_format"] is None


def test_choices_as_a_list_and_as_text_is_an_error_naming_the_record(tmp_path):
    records = [
        {"id": "a", "messages": _conversation(), "answer": "A", "choices": ["x", "y"]},
        {"id": "b", "messages": _conversation(), "answer": "B", "choices": "x, y"},
    ]
    path = _jsonl(tmp_path / "d.jsonl", records)
    with pytest.raises(DataError, match=r"d\.jsonl, record 1 \(id b\), field `choices`: expected a list"):
        load_cot_dataset(str(path))


def test_content_as_text_and_as_parts_loads_as_text(tmp_path, text_tokenizer):
    parts = [{"type": "text", "text": "Q"}, {"type": "text", "text": "?"}]
    records = [
        {"id": "s", "messages": _conversation()},
        {"id": "l", "messages": [{"role": "user", "content": parts}, _conversation()[1]]},
    ]
    data = load_cot_dataset(str(_jsonl(tmp_path / "d.jsonl", records)))
    assert data[1]["messages"][0]["content"] == "Q?" == data[0]["messages"][0]["content"]
    kept, report = prepare_dataset(data, text_tokenizer)
    assert report.kept == 2


def test_content_as_text_and_with_images_loads_as_parts(tmp_path):
    png(tmp_path / "a.png", "red")
    image_turn = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q?"}]}
    records = [
        {"id": "s", "messages": _conversation()},
        {"id": "i", "messages": [image_turn, _conversation()[1]], "images": ["a.png"]},
    ]
    data = load_cot_dataset(str(_jsonl(tmp_path / "d.jsonl", records)))
    assert data[0]["messages"][0]["content"] == [{"type": "text", "text": "Q?"}]
    assert data[0]["messages"][1]["content"] == [
        {"type": "text", "text": "<think>a</think><answer>b</answer>"}
    ]
    assert [p["type"] for p in data[1]["messages"][0]["content"]] == ["image", "text"]


def test_messages_as_text_is_a_counted_skip(tmp_path, text_tokenizer):
    records = [{"id": "ok", "messages": _conversation()}, {"id": "bad", "messages": "Q? A."}]
    data = load_cot_dataset(str(_jsonl(tmp_path / "d.jsonl", records)))
    kept, report = prepare_dataset(data, text_tokenizer)
    assert report.kept == 1 and report.skipped == {"invalid message": 1}


def test_invalid_utf8_names_the_file_and_line(tmp_path):
    path = tmp_path / "d.jsonl"
    good = json.dumps({"id": "a", "messages": _conversation()}).encode()
    path.write_bytes(good + b"\n" + good.replace(b'"a"', b'"\xff\xfe"') + b"\n")
    with pytest.raises(DataError, match=r"d\.jsonl, line 2: not valid UTF-8"):
        load_cot_dataset(str(path))
    whole = tmp_path / "d.json"
    whole.write_bytes(b"[\n" + good + b",\n" + good.replace(b'"a"', b'"\xff"') + b"\n]")
    with pytest.raises(DataError, match=r"d\.json, line 3: not valid UTF-8"):
        load_cot_dataset(str(whole))


def test_a_path_typo_is_no_such_file_not_a_hub_lookup(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    for typo in ("data/trian", "./trian", "data/sub/trian", "trian.parquet"):
        with pytest.raises(FileNotFoundError, match="No such file or directory"):
            load_cot_dataset(typo)
    with pytest.raises(FileNotFoundError, match="hub is offline"):
        load_cot_dataset("someorg/somedata")


def test_a_benchmark_typo_lists_the_benchmarks():
    with pytest.raises(ValueError, match=r"Unknown benchmark 'scienceqa_im'.*scienceqa_img"):
        get_benchmark("scienceqa_im")


@pytest.mark.parametrize("where", ["absolute", "parent"])
def test_images_outside_the_data_folder_are_refused_unless_allowed(tmp_path, where):
    outside = png(tmp_path / "elsewhere" / "x.png", "red")
    name = str(outside) if where == "absolute" else "../elsewhere/x.png"
    image_turn = {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q?"}]}
    record = {"id": "r", "messages": [image_turn, _conversation()[1]], "images": [name]}
    (tmp_path / "data").mkdir()
    path = _jsonl(tmp_path / "data" / "d.jsonl", [record])
    with pytest.raises(DataError, match=r"record 0 \(id r\), field `images`: .* outside the data folder"):
        load_cot_dataset(str(path))
    assert load_cot_dataset(str(path), allow_outside_images=True)[0]["images"] == [
        str(tmp_path / "data" / name) if where == "parent" else name
    ]
