"""What ``train`` / ``grpo`` save tokenizes exactly like what they loaded (``save_processor``).

transformers 5 does not write a ``LlamaTokenizer``'s ``legacy`` setting to ``tokenizer_config.json``: one loaded
with ``legacy=True`` reloads with ``legacy=False`` and stops putting "▁" after special tokens such as
``<image>``. The LLaVA-NeXT processor here has a tiny character-level Llama tokenizer with that setting.
"""

from __future__ import annotations

import json
import string

import datasets
import pytest
from transformers import AutoProcessor, LlamaTokenizer, LlavaNextImageProcessor, LlavaNextProcessor

from scale_sft.data.format import probe_texts
from scale_sft.models import processor as processor_module
from scale_sft.models.chat_templates import LLAVA_NEXT_CHAT_TEMPLATE
from scale_sft.models.processor import save_processor

CONVERSATION = [
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many shapes?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "<think>\nI count 3.\n</think>\n<answer>3</answer>"}]},
]  # fmt: skip


def _legacy_llava_processor() -> LlavaNextProcessor:
    chars = "▁" + string.ascii_letters + string.digits + string.punctuation + "\n"
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, **{c: i + 3 for i, c in enumerate(chars)}}
    tokenizer = LlamaTokenizer(vocab=vocab, merges=[], legacy=True)
    tokenizer.add_tokens(["<image>"], special_tokens=True)
    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": 56},
        crop_size={"height": 56, "width": 56},
        image_grid_pinpoints=[[56, 56], [112, 112]],
    )
    return LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        chat_template=LLAVA_NEXT_CHAT_TEMPLATE,
        image_token="<image>",
    )


def _ids(processor, texts):
    return [processor.tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]


@pytest.fixture
def probes():
    processor = _legacy_llava_processor()
    return probe_texts(processor, datasets.Dataset.from_list([{"messages": CONVERSATION}] * 2))


def test_probes_are_prompts_and_full_texts(probes):
    prompt = "[INST] <image>\nHow many shapes? [/INST]"
    assert probes[:2] == [prompt, prompt + " <think>\nI count 3.\n</think>\n<answer>3</answer></s> "]
    assert len(probes) == 4  # two records


def test_a_plain_save_changes_the_tokenization(probes, tmp_path):
    """The failure ``save_processor`` guards against, as this transformers version has it."""
    processor = _legacy_llava_processor()
    processor.save_pretrained(tmp_path)
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert reloaded.tokenizer.legacy is False
    before, after = _ids(processor, probes[:1]), _ids(reloaded, probes[:1])
    tokens = processor.tokenizer.convert_ids_to_tokens
    assert tokens(before[0][6:11]) == ["]", "▁", "<image>", "▁", "\n"]
    assert tokens(after[0][6:10]) == ["]", "▁", "<image>", "\n"]  # no "▁" after <image> any more


def test_save_processor_keeps_the_tokenization(probes, tmp_path):
    processor = _legacy_llava_processor()
    save_processor(processor, tmp_path, probes)
    assert json.loads((tmp_path / "tokenizer_config.json").read_text())["legacy"] is True
    reloaded = AutoProcessor.from_pretrained(tmp_path)
    assert reloaded.tokenizer.legacy is True
    for special in (False, True):
        assert [reloaded.tokenizer(t, add_special_tokens=special)["input_ids"] for t in probes] == [
            processor.tokenizer(t, add_special_tokens=special)["input_ids"] for t in probes
        ]


def test_save_processor_refuses_a_difference_it_cannot_fix(probes, tmp_path, monkeypatch):
    monkeypatch.setattr(processor_module, "DROPPED_SETTINGS", ())  # as if transformers dropped an unknown one
    with pytest.raises(
        ValueError, match=r"probe 0 .* token 9: loaded .*'<image>', '▁', '\\n'.*reloaded .*'<image>', '\\n'"
    ):
        save_processor(_legacy_llava_processor(), tmp_path / "out", probes)
    assert not (tmp_path / "out").exists()  # nothing is saved that would evaluate on other tokens
