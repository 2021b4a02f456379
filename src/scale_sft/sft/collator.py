"""The collator for conversational records that also emits ``segment_ids`` (0 = no loss, 1 = THINK, 2 = ANSWER).

One design for both kinds of model: a vision-language processor (records with images) and a text-only causal
LM's tokenizer (records without). Each record is rendered by ``scale_sft.data.format.render_sample``, which
locates its completion and ANSWER start; the batch is tokenized with character offsets by the processor, with
images only when the batch has any; the segments and the completion-only labels are read off the offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformers.data.data_collator import DataCollatorMixin

from scale_sft.data.format import is_text_only, render_sample
from scale_sft.segments import SampleSpans, segment_ids_from_offsets
from scale_sft.tags import DEFAULT_TAGS, CotTags


@dataclass
class ScaleSFTCollator(DataCollatorMixin):
    """Conversational records (``messages``, optional ``images`` or ``image``) to a padded batch with
    completion-only ``labels`` and ``segment_ids``.

    ``processor`` is a vision-language processor or, for a text-only model, its tokenizer. Never truncates:
    over-long samples are removed beforehand (``scale_sft.data.prepare.prepare_dataset``), so no sample loses
    its answer. ``padding_side`` is free: the loss does not depend on it.
    """

    processor: Any
    max_length: int | None = None
    tags: CotTags = field(default_factory=lambda: DEFAULT_TAGS)
    padding_side: str = "right"
    pad_to_multiple_of: int | None = None
    chat_template: str | None = None
    return_tensors: str = "pt"

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        if "messages" not in examples[0]:
            raise KeyError("ScaleSFTCollator needs conversational records with a 'messages' field.")
        images = [
            ex["images"] if "images" in ex else [ex["image"]] if "image" in ex else [] for ex in examples
        ]
        has_images = any(images)
        if has_images and is_text_only(self.processor):
            raise ValueError(
                "Records with images cannot train a text-only model (its processor is a tokenizer)."
            )
        rendered = [
            render_sample(self.processor, ex["messages"], self.tags, self.chat_template) for ex in examples
        ]
        spans: list[SampleSpans] = [s for _, s in rendered]
        output = self.processor(
            text=[text for text, _ in rendered],
            **({"images": images} if has_images else {}),
            padding=True,
            padding_side=self.padding_side,
            pad_to_multiple_of=self.pad_to_multiple_of,
            return_offsets_mapping=True,
            add_special_tokens=False,
            return_tensors=self.return_tensors,
        )
        if self.max_length is not None and output["attention_mask"].sum(dim=1).max() > self.max_length:
            raise ValueError(
                f"A sample is longer than max_length={self.max_length}; filter the dataset with "
                "scale_sft.data.prepare.prepare_dataset first (it skips and counts such samples)."
            )
        segment_ids = segment_ids_from_offsets(output.pop("offset_mapping"), output["attention_mask"], spans)
        labels = output["input_ids"].clone()
        labels[segment_ids == 0] = -100
        output["labels"] = labels
        output["segment_ids"] = segment_ids
        return output
