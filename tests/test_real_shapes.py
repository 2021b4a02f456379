"""Records at the published checkpoints' image sizes and processor settings, per family: preparation, one
training step and one batched generation, with exact image-token counts and segment labels.

The tiny models stay tiny (hidden size 128) but see images as the real checkpoints do:
- Qwen2.5-VL at its default pixel limits (``min_pixels`` 3,136, ``max_pixels`` 12,845,056): a 640x480 image
  is 23 x 17 = 391 tokens (the tiny vision tower already has the real 14 px patches and 2x2 merge);
- Gemma 3: SigLIP at 896 px with 14 px patches, pooled to 256 tokens per image;
- LLaVA-NeXT: CLIP at 336 px (576 tokens per view) with any-resolution tiling over the published pinpoints:
  a 672x672 image is a base view plus 2x2 tiles, 576 + 48 x 48 + 48 newline tokens = 2,928.
"""

from __future__ import annotations

import datasets
import pytest
import torch
from PIL import Image
from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor, GenerationConfig

from scale_sft import ScaleSFTConfig, ScaleSFTTrainer
from scale_sft.data.format import render_sample
from scale_sft.data.image_tokens import expanded_length
from scale_sft.data.prepare import prepare_dataset
from scale_sft.data.synthetic import FEATURES, make_records
from scale_sft.evaluation.generate import generate
from scale_sft.models.loading import PROJECTOR_NAMES, VISION_TOWER_NAMES
from scale_sft.models.published import published_image_config, published_processor
from scale_sft.models.tiny import make_tiny_model
from scale_sft.sft.collator import ScaleSFTCollator

pytestmark = pytest.mark.integration  # builds, trains and generates per family

# arch: the (width, height) of each record's image and its image tokens at the published settings
SHAPES = {
    "qwen2_5_vl": [((640, 480), 391), ((480, 640), 391)],
    "gemma3": [((640, 480), 256), ((896, 896), 256)],
    "llava_next": [((672, 672), 2928), ((1008, 336), 576 + 24 * 72 + 24)],
}


@pytest.fixture(scope="module", params=list(SHAPES))
def family(request, tmp_path_factory):
    """(arch, model at the published image settings, its processor, the tiny processor, the records)."""
    arch = request.param
    tiny_dir = make_tiny_model(tmp_path_factory.mktemp("real-shapes") / arch, arch=arch)
    tiny_processor = AutoProcessor.from_pretrained(tiny_dir)
    config = AutoConfig.from_pretrained(tiny_dir)
    published_image_config(arch, config)
    processor = published_processor(arch, tiny_processor)
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(config)
    model.generation_config = GenerationConfig.from_pretrained(tiny_dir)
    records = make_records(len(SHAPES[arch]), seed=1)
    for record, (size, _) in zip(records, SHAPES[arch], strict=True):
        record["images"] = [record["images"][0].resize(size, Image.BICUBIC)]
    return arch, model, processor, tiny_processor, records


def _labelled(processor, records):
    """The collated batch and, per record, its (token id, segment) pairs without padding."""
    batch = ScaleSFTCollator(processor=processor, padding_side="left")(records)
    rows = []
    for ids, seg, mask in zip(batch["input_ids"], batch["segment_ids"], batch["attention_mask"], strict=True):
        rows.append(list(zip(ids[mask.bool()].tolist(), seg[mask.bool()].tolist(), strict=True)))
    return batch, rows


def test_image_tokens_and_segment_labels(family):
    arch, model, processor, tiny_processor, records = family
    batch, rows = _labelled(processor, records)
    _, tiny_rows = _labelled(
        tiny_processor, [{**r, "images": [Image.new("RGB", (112, 112))]} for r in records]
    )
    image_id = model.config.image_token_id
    assert torch.equal(batch["labels"] != -100, batch["segment_ids"] > 0)
    for record, row, tiny_row, (size, tokens) in zip(records, rows, tiny_rows, SHAPES[arch], strict=True):
        assert [t for t, _ in row].count(image_id) == tokens
        # Only the image tokens differ from the same record at the tiny image size: the completion, THINK and
        # ANSWER included, is labelled token for token the same, and nothing before it is labelled.
        completion = next(i for i, (_, s) in enumerate(row) if s)
        tiny_completion = next(i for i, (_, s) in enumerate(tiny_row) if s)
        assert row[completion:] == tiny_row[tiny_completion:]
        assert len(row) - len(tiny_row) == tokens - [t for t, _ in tiny_row].count(image_id)
        # the size-only count preparation uses agrees with the processor at the real shape
        text, _ = render_sample(processor, record["messages"])
        assert expanded_length(processor, text, [size[::-1]]) == len(row)


def test_prepare_train_generate(family, tmp_path):
    arch, model, processor, _, records = family
    dataset = datasets.Dataset.from_list(records, features=FEATURES)
    _, rows = _labelled(processor, records)
    lengths = [len(row) for row in rows]
    kept, report = prepare_dataset(dataset, processor, max_length=max(lengths))
    assert report.kept == len(records)
    # one token less than the longest record: exactly the longest is skipped (counted with its real image)
    assert len(set(lengths)) == len(lengths)
    _, report = prepare_dataset(dataset, processor, max_length=max(lengths) - 1)
    assert report.skipped == {"longer than max_length": 1}

    config = ScaleSFTConfig(
        output_dir=str(tmp_path), max_length=max(lengths), per_device_train_batch_size=len(records), max_steps=1,
        logging_steps=1, optim="sgd", learning_rate=1.0, save_strategy="no", report_to="none", disable_tqdm=True,
        dataloader_num_workers=0,
    )  # fmt: skip
    before = {k: v.clone() for k, v in model.named_parameters()}
    trainer = ScaleSFTTrainer(model, args=config, train_dataset=kept, processing_class=processor)
    trainer.train()
    (log,) = [h for h in trainer.state.log_history if "loss" in h]
    segments = [s for row in rows for _, s in row]
    assert (log["think_tokens"], log["answer_tokens"]) == (segments.count(1), segments.count(2))
    assert torch.isfinite(torch.tensor(log["loss"]))
    # The images reached the loss: the image encoder or its projector moved. (transformers initialises Gemma 3's
    # projector to zero, so its first step moves only the projector, by a gradient the image features carry.)
    image_side = set(VISION_TOWER_NAMES) | set(PROJECTOR_NAMES)
    moved = [k for k, v in model.named_parameters() if not torch.equal(v, before[k])]
    assert any(set(k.split(".")) & image_side for k in moved)

    # Greedy generation batched with left padding gives what each record gives alone.
    batched = generate(model, processor, records, batch_size=len(records), max_new_tokens=3, progress=False)
    alone = generate(model, processor, records, batch_size=1, max_new_tokens=3, progress=False)
    assert [g[0].token_ids for g in batched] == [g[0].token_ids for g in alone]
    assert all(1 <= len(g[0].token_ids) <= 3 for g in batched)
