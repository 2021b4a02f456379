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


# Record-level faults: each one a counted skip under its own reason, never an abort or a shift.

IMAGE = Image.new("RGB", (56, 56), "red")
GOOD = cot_completion("two red shapes", "2")


def _messages(completion=GOOD, question="How many?", num_images=1):
    return [user_message(question, num_images), assistant_message(completion)]


def _reasons(records, processor, **kwargs):
    """The skip reasons of ``records`` (an in-memory dataset, images encoded as the datasets library does)."""
    _, report = prepare_dataset(datasets.Dataset.from_list([_ok_record(), *records]), processor, **kwargs)
    assert report.kept == 1
    return dict(report.skipped)


def _ok_record():
    return {"messages": _messages(), "images": [IMAGE], "id": "ok"}


def test_image_part_outside_a_user_turn_is_skipped(qwen_processor):
    # The image sits in the assistant turn, none in the user turn: the counts agree, but the processor's image
    # expansion inside the completion would shift every label measured from the end of the text.
    assistant = {"role": "assistant", "content": [{"type": "image"}, {"type": "text", "text": GOOD}]}
    system = {"role": "system", "content": [{"type": "image"}, {"type": "text", "text": "Look."}]}
    records = [
        {"messages": [user_message("How many?", 0), assistant], "images": [IMAGE]},
        {"messages": [system, *_messages(num_images=0)], "images": [IMAGE]},
    ]
    assert _reasons(records, qwen_processor) == {"image outside a user turn": 2}


@pytest.mark.parametrize("completion", ["", "  \n\t "])
def test_empty_target_is_skipped_not_a_direct_answer(qwen_processor, completion):
    records = [{"messages": _messages(completion), "images": [IMAGE]}]
    assert _reasons(records, qwen_processor) == {"empty target": 1}


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"messages": [user_message("Q?"), {"role": "assistant", "content": None}]}, "invalid message content"),
        ({"messages": [user_message("Q?"), {"role": "assistant", "content": [None]}]}, "invalid message content"),
        ({"messages": [user_message("Q?"), {"role": "robot", "content": [{"type": "text", "text": GOOD}]}]},
         "invalid message"),
        ({"messages": _messages(question="Count <|image_pad|> here"), "images": [IMAGE]}, "special token in text"),
        ({"messages": _messages(GOOD + "<|im_end|>"), "images": [IMAGE]}, "special token in text"),
        ({"messages": [{"role": "system", "content": [{"type": "text", "text": "</s><|endoftext|>"}]},
                       *_messages()], "images": [IMAGE]}, "special token in text"),
    ],
)  # fmt: skip
def test_bad_record_is_a_counted_skip(qwen_processor, record, reason):
    record.setdefault("images", [IMAGE])
    assert _reasons([record], qwen_processor) == {reason: 1}
    # and with malformed="error", an error naming the record
    bad = datasets.Dataset.from_list([_ok_record(), {**record, "id": "r-7"}])
    with pytest.raises(DataError, match=f"Record 1 \\(id r-7\\): {reason}"):
        prepare_dataset(bad, qwen_processor, malformed="error")


@pytest.mark.parametrize("images", [[3], 3, ["img.png", None]])
def test_images_that_are_not_paths_or_images(qwen_processor, images):
    data = datasets.Dataset.from_list([{"messages": _messages(), "images": images, "id": "x"}])
    with pytest.raises(DataError, match="Record 0 \\(id x\\): invalid image entry"):
        prepare_dataset(data, qwen_processor, malformed="error")


def test_tag_tokens_are_not_special_token_faults(tiny_qwen_dir):
    from transformers import AutoProcessor

    from scale_sft.data.prepare import special_token_pattern

    processor = AutoProcessor.from_pretrained(tiny_qwen_dir)
    processor.tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<think>", "</think>", "<answer>", "</answer>"]},
        replace_extra_special_tokens=False,
    )
    pattern = special_token_pattern(processor)
    assert "<think>" in processor.tokenizer.all_special_tokens and not pattern.search(GOOD)
    assert pattern.search("<|image_pad|>") and pattern.search("<|im_end|>")


def test_decompression_bomb_is_skipped(tmp_path, qwen_processor, monkeypatch):
    # PIL raises DecompressionBombError (not an OSError) above 2 * MAX_IMAGE_PIXELS: 200x200 here, not 56x56.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    bomb = Image.new("RGB", (200, 200))
    IMAGE.save(tmp_path / "img.png")
    bomb.save(tmp_path / "bomb.png")
    path = tmp_path / "data.jsonl"
    path.write_text(
        "\n".join(json.dumps({"messages": _messages(), "images": [n]}) for n in ("img.png", "bomb.png"))
    )
    from_files = load_cot_dataset(str(path))  # image paths, opened by the check
    decoded = datasets.Dataset.from_list([_ok_record(), {"messages": _messages(), "images": [bomb]}])
    for dataset in (from_files, decoded):  # ... and an image column decoded when the record is read
        _, report = prepare_dataset(dataset, qwen_processor)
        assert report.kept == 1 and report.skipped == {"image too large (decompression bomb)": 1}


@pytest.mark.integration
def test_template_error_is_a_counted_skip(tmp_path):
    from transformers import AutoProcessor

    from scale_sft.models.tiny import make_tiny_model

    processor = AutoProcessor.from_pretrained(make_tiny_model(tmp_path / "llava", arch="llava_next"))
    system = {"role": "system", "content": [{"type": "text", "text": "Be brief."}]}
    records = [{"messages": [system, *_messages()], "images": [IMAGE]}]
    assert _reasons(records, processor) == {
        "chat template error: Only user and assistant roles are supported.": 1
    }


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path, qwen_processor):
    import numpy as np

    Image.fromarray(np.full((56, 56), 30000, dtype=np.uint16)).save(tmp_path / "deep.png")
    IMAGE.save(tmp_path / "img.png")
    path = tmp_path / "data.jsonl"
    path.write_text(
        "\n".join(json.dumps({"messages": _messages(), "images": [n]}) for n in ("img.png", "deep.png"))
    )
    kept, report = prepare_dataset(load_cot_dataset(str(path)), qwen_processor)
    assert report.kept == 2
    assert kept[0]["images"][0].getpixel((0, 0)) == (255, 0, 0)
    assert (
        kept[1]["images"][0].mode == "RGB" and kept[1]["images"][0].getpixel((0, 0)) == (117,) * 3
    )  # 30000/257


@pytest.mark.parametrize(
    ("mode_values", "pixel"),
    [
        (("I;16", [[0, 65535]]), [0, 255]),
        (("I", [[0, 1000]]), [0, 4]),  # a 16-bit image widened to 32 bits
        (("I", [[-10, 10]]), [0, 255]),  # outside 16 bits: stretched
        (("F", [[0.0, 0.5]]), [0, 128]),
        (("F", [[-2.0, 2.0]]), [0, 255]),
    ],
)
def test_to_rgb_scales_high_depth_modes(mode_values, pixel):
    import numpy as np

    from scale_sft.data.images import to_rgb

    mode, values = mode_values
    dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
    image = Image.fromarray(np.array(values, dtype=dtype))
    assert image.mode == mode
    assert [to_rgb(image).getpixel((x, 0)) for x in range(2)] == [(p,) * 3 for p in pixel]


def test_json_records_of_mixed_types_are_read_and_checked(tmp_path, qwen_processor):
    """At load time, an `answer` that is a number in one record and text in another is read as text, and
    records whose image entries are not file names (`[None]`, a number) are counted skips, not a failed load."""
    Image.new("RGB", (56, 56), "red").save(tmp_path / "a.png")
    good = {"messages": [user_message("How many?"), assistant_message(cot_completion("I count.", "3"))]}
    rows = [
        {**good, "images": ["a.png"], "answer": 3},
        {**good, "images": ["a.png"], "answer": "B"},
        {**good, "images": [None], "answer": "C"},
        {**good, "images": 7, "answer": "D"},
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    dataset = load_cot_dataset(str(path))
    assert dataset["answer"] == ["3", "B", "C", "D"]
    kept, report = prepare_dataset(dataset, qwen_processor)
    assert report.kept == 2 and report.skipped == {"invalid image entry": 2}
