"""The vision-language collator that also emits ``segment_ids`` (0 = no loss, 1 = THINK, 2 = ANSWER)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

from scale_sft.data.format import DEFAULT_TAGS, CotTags, message_text
from scale_sft.segments import SampleSpans, answer_start, sample_spans, segment_ids_from_offsets


def render_sample(processor, messages: list[dict], tags: CotTags, chat_template: str | None = None):
    """The chat-rendered text of ``messages`` and the spans of its final assistant completion.

    The completion is what the template adds after the generation prompt of the earlier turns, so a prompt
    that itself contains ``<think>`` is never mistaken for reasoning. The tag rules are checked on the
    assistant message itself, before the template adds its end-of-turn tokens.
    """
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError(
            "A conversational record must end with an assistant message (the supervised target)."
        )
    answer_start(message_text(messages[-1]), tags)
    text = processor.apply_chat_template(messages, tokenize=False, chat_template=chat_template)
    prompt = processor.apply_chat_template(
        messages[:-1], tokenize=False, add_generation_prompt=True, chat_template=chat_template
    )
    if not text.startswith(prompt):
        raise ValueError(
            "The chat template renders the conversation differently from its generation prompt, so the "
            "completion cannot be located; use a template where the prompt is a prefix of the conversation."
        )
    return text, sample_spans(text, len(prompt), tags)


@dataclass
class ScaleSFTCollator(DataCollatorForVisionLanguageModeling):
    """TRL's vision-language collator for conversational records, with completion-only labels and segment ids.

    Never truncates: over-long samples are removed beforehand (``scale_sft.data.prepare_dataset``), so no
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
