"""Bad or hostile converter inputs: files outside the input's folder, records of unexpected types, broken
answers and JSON lines, and the splits of JSON/JSONL files. Each ends in a counted skip or a clear error."""

import json
import os

import pytest
from helpers import png

from scale_sft.cli import main
from scale_sft.data.converters import convert
from scale_sft.data.loading import DataError, load_cot_dataset, read_records

THINK = "<think>\nok\n</think>\nThe answer is 1."


def _vr1(image, question="<image>\nQ?", response=THINK, **extra):
    return {
        "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": response}],
        "image": image,
        **extra,
    }


def _write(path, records):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records))
    return path


@pytest.fixture
def hostile(tmp_path):
    """A Vision-R1 file whose records name files outside its folder, or files that are not images."""
    png(tmp_path / "outside.png", "red")
    (tmp_path / "secret.txt").write_text("password")
    folder = tmp_path / "data"
    png(folder / "ok.png", "blue")
    (folder / "fake.png").write_text("not an image")
    os.symlink(tmp_path / "outside.png", folder / "link.png")
    records = [
        _vr1("ok.png"),
        _vr1("../outside.png"),
        _vr1("../secret.txt"),
        _vr1(str(tmp_path / "outside.png")),
        _vr1("/etc/passwd"),
        _vr1("link.png"),
        _vr1("fake.png"),
    ]
    return _write(folder / "cold.json", records)


def test_images_only_from_the_input_folder(hostile):
    dataset, report = convert("vision_r1", str(hostile))
    assert (report.total, report.kept) == (7, 1)
    assert report.skipped == {
        "image path outside the image folders": 3,  # ../outside.png, ../secret.txt, link.png -> outside
        "absolute image path": 2,
        "not a readable image": 1,
    }
    assert len(dataset) == 1 and dataset[0]["images"][0].size == (56, 56)


def test_outside_images_only_with_the_flag(hostile, tmp_path, capsys):
    out = tmp_path / "out"
    main(["convert", "--source", "vision_r1", "--input", str(hostile), "--out", str(out),
          "--allow_outside_images"])  # fmt: skip
    report = json.loads((out / "conversion_report.json").read_text())["train"]
    # outside.png (three ways) is read now; secret.txt, /etc/passwd and fake.png are still not images
    assert (report["kept"], report["skipped"]) == (4, {"not a readable image": 3})


def test_image_root_is_an_allowed_folder(tmp_path):
    png(tmp_path / "images" / "a.png", "red")
    path = _write(tmp_path / "json" / "cold.json", [_vr1("a.png"), _vr1("../json/cold.json")])
    dataset, report = convert("vision_r1", str(path), image_root=str(tmp_path / "images"))
    assert report.kept == 1 and report.skipped == {
        "not a readable image": 1
    }  # cold.json: in the input folder


def test_records_of_unexpected_types_are_counted_skips(tmp_path):
    png(tmp_path / "a.png", "red")
    vision = [
        _vr1("a.png"),
        ["not", "a", "record"],
        "a string",
        {"conversations": "human: hi", "image": "a.png"},
        _vr1(12),
        {"conversations": [{"from": "human", "value": ["<image>", "Q?"]}, {"from": "gpt", "value": THINK}]},
    ]
    _, report = convert("vision_r1", str(_write(tmp_path / "v.json", vision)))
    assert report.kept == 1 and report.skipped == {
        "record is not an object": 2,
        "no conversations list": 1,
        "unsupported image value (int)": 1,
        "non-text turn content": 1,
    }
    base = {"image": "a.png", "choices": ["x", "y"], "answer": 0, "hint": ""}
    science = [
        base | {"question": "Q?"},
        base | {"question": 7},
        base | {"question": ["Q", "?"]},
        base | {"question": "Q?", "hint": 3.5},
        base | {"question": "Q?", "choices": "ab"},
        base | {"question": "Q?", "image": 12},
    ]
    dataset, report = convert("scienceqa", str(_write(tmp_path / "s.json", science)))
    assert report.kept == 1 and report.skipped == {
        "question is not text": 2,
        "hint is not text": 1,
        "choices is not a list of texts": 1,
        "unsupported image value (int)": 1,
    }
    assert dataset[0]["choices"] == ["x", "y"]


def test_unclosed_boxed_is_not_an_answer(tmp_path):
    png(tmp_path / "a.png", "red")
    records = [
        _vr1("a.png", response="<think>\nok\n</think>\nSo the area is \\boxed{12}."),
        _vr1("a.png", response="<think>\nok\n</think>\nSo the area is \\boxed{12"),
        _vr1("a.png", response="<think>\nok\n</think>\nThe answer is \\boxed{\\frac{1}{2}"),
    ]
    dataset, report = convert("vision_r1", str(_write(tmp_path / "v.json", records)))
    assert dataset["answer"] == ["12"] and report.skipped == {"unclosed \\boxed": 2}


def test_a_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3,\n')
    with pytest.raises(DataError, match=r"data.jsonl, line 4: not valid JSON"):
        read_records(str(path))
    with pytest.raises(DataError, match=r"line 4"):
        convert("vision_r1", str(path))


def test_splits_of_json_files(tmp_path):
    """Rules 1-3 of data/loading.py: a sibling NAME.SPLIT file, records' `split` fields, the file's name."""
    train, test = [{"id": "t1", "images": []}], [{"id": "e1", "images": []}, {"id": "e2", "images": []}]
    _write(tmp_path / "data.json", train)
    assert load_cot_dataset(str(tmp_path / "data.json"))["id"] == ["t1"]
    with pytest.raises(DataError, match=r"holds the split 'train'.*data\.test\.json"):
        load_cot_dataset(str(tmp_path / "data.json"), "test")  # never the training records
    _write(tmp_path / "data.test.json", test)
    assert load_cot_dataset(str(tmp_path / "data.json"), "test")["id"] == ["e1", "e2"]

    _write(tmp_path / "scienceqa_val.json", test)
    assert len(read_records(str(tmp_path / "scienceqa_val.json"), "val")[0]) == 2
    with pytest.raises(DataError, match="holds the split 'val'"):
        read_records(str(tmp_path / "scienceqa_val.json"), "train")

    mixed = {"p1": {"split": "train"}, "p2": {"split": "test"}, "p3": {"split": "test"}}
    _write(tmp_path / "problems.json", mixed)
    records, _ = read_records(str(tmp_path / "problems.json"), "test")
    assert records == [{"id": "p2", "split": "test"}, {"id": "p3", "split": "test"}]
    with pytest.raises(DataError, match=r"name \['test', 'train'\], not 'val'"):
        read_records(str(tmp_path / "problems.json"), "val")


def test_a_decompression_bomb_is_a_counted_skip(tmp_path, monkeypatch):
    """PIL's DecompressionBombError is not an OSError; it must not abort the conversion."""
    png(tmp_path / "a.png", "red")
    path = _write(tmp_path / "v.json", [_vr1("a.png"), _vr1("a.png")])
    monkeypatch.setattr("PIL.Image.MAX_IMAGE_PIXELS", 56 * 56 // 3)  # 56x56 is now over twice the limit
    with pytest.raises(ValueError, match="No record converted.*2 not a readable image"):
        convert("vision_r1", str(path))
