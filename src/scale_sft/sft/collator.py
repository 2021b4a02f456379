"""The vision-language collator that also emits ``segment_ids`` (0 = no loss, 1 = THINK, 2 = ANSWER)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

from scale_sft.data.format import render_sample
from scale_sft.segments import SampleSpans, segment_ids_from_offsets
from scale_sft.tags import DEFAULT_TAGS, CotTags


@dataclass
class ScaleSFTCollator(DataCollatorForVisionLanguageModeling):
    """TRL's vision-language collator for conversational records, with completion-only labels and segment ids.

    Never truncates: over-long samples are removed beforehand (``scale_sft.data.prepare.prepare_dataset``), so no
    sample loses its answer. ``padding_side`` is free: the loss does not depend on it.
    """

    tags: CotTags = field(default_factory=lambda: DEFAULT_TAGS)
    padding_side: str = "right"

    def _collate_language_modeling(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        if "messages" not in examples[0]:
            raise KeyError("ScaleSFTCollator needs conversational records with a 'messages' field.")
        images = [ex["images"] if "images" in ex else [ex["image"]] for ex in examples]
        rendered = [
            render_sample(self.processor, ex["messages"], self.tags, self.chat_template) for ex in examples
        ]
        texts = [text for text, _ in rendered]
        spans: list[SampleSpans] = [s for _, s in rendered]
        output = self.processor(
            images=None if all(not imgs for imgs in images) else images,
            text=texts,
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
                "scale_sft.data.prepare_dataset first (it skips and counts such samples)."
            )
        segment_ids = segment_ids_from_offsets(output.pop("offset_mapping"), output["attention_mask"], spans)
        labels = output["input_ids"].clone()
        labels[segment_ids == 0] = -100
        output["labels"] = labels
        output["segment_ids"] = segment_ids
        return output
