"""The record check at scale: skip reasons, token lengths from image sizes equal to the full processor's, the
same result in 1 and 2 processes, a rerun read back from the ``datasets`` cache, and the ``length`` column."""

import io

import datasets
import pytest
from PIL import Image

from scale_sft.data import prepare
from scale_sft.data.format import (
    assistant_message,
    cot_completion,
    record_features,
    render_sample,
    user_message,
)
from scale_sft.data.prepare import check_dataset, check_record, prepare_dataset

MAX_LENGTH = 300


def _png(size=(56, 56), color="red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def _record(completion, images, placeholders=1):
    return {
        "messages": [user_message("How many?", placeholders), assistant_message(completion)],
        "images": images,
    }


def _records(image, truncated, missing=None):
    """Records with the reason each one is skipped for (None: kept)."""
    cases = [
        (_record(cot_completion("two red shapes", "2"), [image]), None),
        (_record("<answer>3</answer>", [image]), None),  # direct answer
        (_record(cot_completion("a wide one", "1"), [image, image], placeholders=2), None),
        (_record("<think>no end <answer>3</answer>", [image]), "malformed: only one think tag"),
        (_record(cot_completion("ok", "1"), [truncated]), "unreadable image"),
        (_record(cot_completion("ok", "1"), [image, image]), "image count mismatch"),
        (_record(cot_completion("word " * 400, "1"), [image]), "longer than max_length"),
        ({"messages": [user_message("How many?")], "images": [image]}, "no assistant target"),
    ]
    if missing is not None:
        cases.append((_record(cot_completion("ok", "1"), [missing]), "missing image"))
    return [record for record, _ in cases], [reason for _, reason in cases]


def _full_length(processor, messages, num_images):
    """The full processor's length, for records whose images are all 64x40."""
    text = render_sample(processor, messages)[0]
    images = [Image.open(io.BytesIO(_png((64, 40)))) for _ in range(num_images)]
    return len(processor(images=images, text=[text], add_special_tokens=False)["input_ids"][0])


@pytest.fixture
def arrow_dataset(tmp_path):
    """A ``save_to_disk`` dataset loaded back (so ``map`` results are cached), images stored as bytes."""
    image = {"bytes": _png((64, 40)), "path": None}
    truncated = {"bytes": _png((64, 40), "blue")[:-40], "path": None}
    records, reasons = _records(image, truncated)
    features = datasets.Features({"messages": record_features()["messages"], "images": [datasets.Image()]})
    datasets.Dataset.from_list(records, features=features).save_to_disk(str(tmp_path / "data"))
    return datasets.load_from_disk(str(tmp_path / "data")), reasons


def test_reasons_and_lengths_from_paths(tmp_path, qwen_processor):
    (tmp_path / "img.png").write_bytes(_png((64, 40)))
    (tmp_path / "cut.png").write_bytes(_png((64, 40), "blue")[:-40])
    records, reasons = _records(
        str(tmp_path / "img.png"), str(tmp_path / "cut.png"), str(tmp_path / "no.png")
    )
    checks = [check_record(record, qwen_processor, max_length=MAX_LENGTH) for record in records]
    assert [check.reason for check in checks] == reasons
    assert [check.direct_answer for check in checks] == [False, True] + [False] * (len(records) - 2)
    for record, check in zip(records, checks, strict=True):
        if check.reason in (None, "longer than max_length"):
            assert check.length == _full_length(qwen_processor, record["messages"], len(record["images"]))
    assert checks[-3].length > MAX_LENGTH  # the long one is measured, then skipped


def test_unknown_processor_runs_in_full(tmp_path, qwen_processor, monkeypatch):
    (tmp_path / "img.png").write_bytes(_png((64, 40)))
    record = _record(cot_completion("two red shapes", "2"), [str(tmp_path / "img.png")] * 2, placeholders=2)
    monkeypatch.setattr(prepare, "expanded_length", lambda *args: None)
    assert check_record(record, qwen_processor).length == _full_length(qwen_processor, record["messages"], 2)


def test_parallel_and_cached(arrow_dataset, qwen_processor, tiny_qwen_dir, monkeypatch):
    from transformers import AutoProcessor

    dataset, reasons = arrow_dataset
    single = check_dataset(dataset, qwen_processor, max_length=MAX_LENGTH)
    assert single["skip_reason"] == reasons
    assert single["length"][2] == _full_length(qwen_processor, dataset[2]["messages"], 2)
    parallel = check_dataset(
        dataset, qwen_processor, max_length=MAX_LENGTH, num_proc=2, load_from_cache_file=False
    )
    assert parallel.to_list() == single.to_list()

    def fail(*args, **kwargs):
        raise AssertionError("checked again instead of reading the cache")

    monkeypatch.setattr(prepare, "check_record", fail)  # any record checked from here on fails
    reloaded = AutoProcessor.from_pretrained(tiny_qwen_dir)  # an equal processor, another object
    cached = check_dataset(dataset, reloaded, max_length=MAX_LENGTH, num_proc=2)
    assert cached.to_list() == single.to_list()
    other_resolution = AutoProcessor.from_pretrained(tiny_qwen_dir, max_pixels=28 * 28 * 4)
    for processor, max_length in ((reloaded, MAX_LENGTH + 1), (other_resolution, MAX_LENGTH)):
        with pytest.raises(AssertionError, match="checked again"):  # other settings: no stale result
            check_dataset(dataset, processor, max_length=max_length)
    assert dataset.features["images"].feature.decode  # the caller's dataset still decodes its images


def test_kept_records_carry_their_length(arrow_dataset, qwen_processor):
    """``length`` is the token count the collator will produce, for ``group_by_length``."""
    from scale_sft.sft.collator import ScaleSFTCollator

    dataset, reasons = arrow_dataset
    kept, report = prepare_dataset(dataset, qwen_processor, max_length=MAX_LENGTH)
    assert report.kept == reasons.count(None) == len(kept)
    batch = ScaleSFTCollator(processor=qwen_processor)([kept[i] for i in range(len(kept))])
    assert kept["length"] == batch["attention_mask"].sum(dim=1).tolist()


def test_special_token_pattern_is_the_same_in_every_process(tiny_qwen_dir):
    """The check's cache fingerprint hashes this pattern: built from a set, it must not depend on the process's
    string-hash seed, or every rank and every run would miss the cache."""
    import os
    import subprocess
    import sys

    code = (
        "from transformers import AutoProcessor; from scale_sft.data.prepare import special_token_pattern; "
        f"print(special_token_pattern(AutoProcessor.from_pretrained({str(tiny_qwen_dir)!r})).pattern)"
    )
    patterns = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout  # fmt: skip
        for seed in ("1", "2", "3")
    }
    assert len(patterns) == 1 and "im_end" in patterns.pop()
