"""Where ``convert`` writes: splits converted one after another into one ``--out`` all stay listed, with their
reports; a folder of other files is never written into unless ``--overwrite``."""

import json

import datasets
import pytest
from helpers import png

from scale_sft.cli import main

THINK = "<think>\nok\n</think>\nThe answer is 1."


@pytest.fixture
def source(tmp_path):
    """A Vision-R1 source with a train file (2 records) and a test file (1 record) beside it."""
    png(tmp_path / "src" / "a.png", "red")
    record = {"conversations": [{"from": "human", "value": "<image>\nQ?"}, {"from": "gpt", "value": THINK}],
              "image": "a.png"}  # fmt: skip
    (tmp_path / "src" / "cold.json").write_text(json.dumps([record, record]))
    (tmp_path / "src" / "cold.test.json").write_text(json.dumps([record]))
    return tmp_path / "src" / "cold.json"


def _convert(source, out, split, *flags):
    main(["convert", "--source", "vision_r1", "--input", str(source), "--out", str(out), "--split", split,
          *flags])  # fmt: skip


def test_a_second_split_joins_the_first(source, tmp_path):
    out = tmp_path / "out"
    _convert(source, out, "train")
    _convert(source, out, "test")
    data = datasets.load_from_disk(str(out))
    assert {name: len(split) for name, split in data.items()} == {"train": 2, "test": 1}
    reports = json.loads((out / "conversion_report.json").read_text())
    assert {name: r["kept"] for name, r in reports.items()} == {"train": 2, "test": 1}
    _convert(source, out, "train")  # converting a split again replaces it, the others stay
    assert set(datasets.load_from_disk(str(out))) == {"train", "test"}


def test_a_folder_of_other_files_is_refused_unless_overwrite(source, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not the output of an earlier conversion"):
        _convert(source, out, "train")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    _convert(source, out, "train", "--overwrite")
    assert not (out / "notes.txt").exists() and len(datasets.load_from_disk(str(out))["train"]) == 2
