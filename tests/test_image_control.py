"""The image-blind controls of evaluation: blank images are grey at the same size, shuffled images come from
other items, and what reaches the model's forward is what the control says."""

import json
from collections import Counter

import pytest
import torch

from scale_sft.data.synthetic import make_records
from scale_sft.evaluation import runner
from scale_sft.evaluation.image_control import GREY, apply_image_control, blank_image, derangement
from scale_sft.models.loading import load_model_and_processor


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return make_records(6, seed=4, split="test")


def test_blank_is_grey_at_the_same_size_and_leaves_the_records_alone(records):
    blanked = apply_image_control(records, "blank")
    for record, blank in zip(records, blanked, strict=True):
        (image,), (grey,) = record["images"], blank["images"]
        assert grey.size == image.size and grey.mode == "RGB"
        assert grey.getcolors() == [(image.size[0] * image.size[1], GREY)]  # one colour in every pixel
        assert image.getcolors(maxcolors=1000) != grey.getcolors()  # the original is untouched
        assert {k: v for k, v in blank.items() if k != "images"} == {
            k: v for k, v in record.items() if k != "images"
        }
    assert apply_image_control(records, "none") is records


@pytest.mark.parametrize("n", [2, 3, 7, 50])
def test_shuffle_is_a_seeded_permutation_without_fixed_points(n):
    source = derangement(n)
    assert sorted(source) == list(range(n)) and all(source[i] != i for i in range(n))
    assert derangement(n) == source  # deterministic
    if n >= 7:  # and moved by the seed
        assert derangement(n, seed=1) != source


def test_shuffle_gives_every_item_another_items_images(records):
    shuffled = apply_image_control(records, "shuffle")
    shown = [id(r["images"][0]) for r in shuffled]
    own = [id(r["images"][0]) for r in records]
    assert Counter(shown) == Counter(own) and all(a != b for a, b in zip(shown, own, strict=True))
    assert [r["question"] for r in shuffled] == [r["question"] for r in records]  # questions stay


def test_controls_name_what_they_cannot_do(records):
    with pytest.raises(ValueError, match="image_control must be one of"):
        apply_image_control(records, "mask")
    with pytest.raises(ValueError, match=r"record 1 \(id 'b'\) has none in its 'images'"):
        apply_image_control([{"id": "a", "images": records[0]["images"]}, {"id": "b", "images": []}], "blank")
    with pytest.raises(ValueError, match="at least 2 items"):
        apply_image_control(records[:1], "shuffle")
    two = [{"id": "a", "images": records[0]["images"] * 2}, records[1]]
    with pytest.raises(ValueError, match="same number of images"):
        apply_image_control(two, "shuffle")
    with pytest.raises(ValueError, match="image_control"):  # refused before any model is loaded
        runner.evaluate("no-such-model", image_control="grey")


def test_evaluate_feeds_the_control_images_to_the_model(tiny_qwen_dir, synthetic_dir, monkeypatch, tmp_path):
    """The pixel values reaching the model's image encoder: the records' own, a grey image's, or another item's."""
    seen = {}

    def spying_loader(*args, **kwargs):
        model, processor = load_model_and_processor(*args, **kwargs)

        def hook(module, args, kwargs):  # Qwen2.5-VL's vision tower gets (pixel_values, grid_thw=...)
            seen[control] = (args[0].detach().clone(), kwargs["grid_thw"].clone())

        model.get_submodule("model.visual").register_forward_pre_hook(hook, with_kwargs=True)
        seen["processor"] = processor
        return model, processor

    monkeypatch.setattr(runner, "load_model_and_processor", spying_loader)
    metrics = {}
    for control in ("none", "blank", "shuffle"):
        metrics[control] = runner.evaluate(
            str(tiny_qwen_dir), data=str(synthetic_dir), limit=4, batch_size=4, max_new_tokens=2,
            output_dir=str(tmp_path / control), image_control=control,
        )  # fmt: skip
        run = json.loads((tmp_path / control / "metrics.json").read_text())["run"]
        assert run["image_control"] == metrics[control]["run"]["image_control"] == control

    (own, grid), (blank, blank_grid), (shuffled, shuffled_grid) = (
        seen[c] for c in ("none", "blank", "shuffle")
    )
    assert torch.equal(grid, blank_grid) and torch.equal(grid, shuffled_grid)  # as many image tokens
    # blank: every patch is the processor's patch of a plain grey image
    record = make_records(1, seed=0, split="test")[0]
    grey = seen["processor"].image_processor(images=[blank_image(record["images"][0])], return_tensors="pt")
    grey_patch = grey["pixel_values"][0]
    assert torch.equal(blank, grey_patch.expand_as(blank))
    assert len(own.unique(dim=0)) > 1  # the real images are not constant
    # shuffle: the same four images, none of them at its own item
    per_image, moved = own.chunk(4), shuffled.chunk(4)
    assert all(not torch.equal(a, b) for a, b in zip(per_image, moved, strict=True))
    assert all(any(torch.equal(m, p) for p in per_image) for m in moved)
