"""The tiny models render, and get BOS, exactly as the paper's three published checkpoints do.

The expected strings are what the published chat templates of Qwen/Qwen2.5-VL-3B-Instruct,
llava-hf/llava-v1.6-mistral-7b-hf and google/gemma-3-4b-it render for one conversation. BOS: Qwen2.5-VL has
none; llava-hf's tokenizer adds `<s>` but its template does not write it; Gemma 3's template writes `<bos>` and
its tokenizer would add another. Training, evaluation prompts and GRPO prompts must all start with BOS exactly
when the model expects it, and never twice.
"""

from __future__ import annotations

import pytest
from PIL import Image
from transformers import AutoProcessor

from scale_sft.data.format import render_prompt, render_sample
from scale_sft.models.tiny import make_tiny_model
from scale_sft.sft.collator import ScaleSFTCollator

pytestmark = pytest.mark.integration  # builds a model per family

CONVERSATION = [
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "How many shapes?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": "<think>\nI count 3.\n</think>\n<answer>3</answer>"}]},
]  # fmt: skip
PUBLISHED = {
    "qwen2_5_vl": (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "<|vision_start|><|image_pad|><|vision_end|>How many shapes?<|im_end|>\n<|im_start|>assistant\n",
        "<think>\nI count 3.\n</think>\n<answer>3</answer><|im_end|>\n",
    ),
    "llava_next": (
        "[INST] <image>\nHow many shapes? [/INST]",
        " <think>\nI count 3.\n</think>\n<answer>3</answer></s> ",
    ),
    "gemma3": (
        "<bos><start_of_turn>user\n<start_of_image>How many shapes?<end_of_turn>\n<start_of_turn>model\n",
        "<think>\nI count 3.\n</think>\n<answer>3</answer><end_of_turn>\n",
    ),
}
BOS = {"qwen2_5_vl": None, "llava_next": "<s>", "gemma3": "<bos>"}
IMAGE = Image.new("RGB", (112, 112), "white")


@pytest.fixture(scope="module")
def processors(tmp_path_factory):
    root = tmp_path_factory.mktemp("published")
    return {
        arch: AutoProcessor.from_pretrained(make_tiny_model(root / arch, arch=arch)) for arch in PUBLISHED
    }


@pytest.mark.parametrize("arch", PUBLISHED)
def test_templates_render_like_the_published_checkpoints(arch, processors):
    processor = processors[arch]
    prompt, completion = PUBLISHED[arch]
    assert processor.apply_chat_template(CONVERSATION, tokenize=False) == prompt + completion
    assert (
        processor.apply_chat_template(CONVERSATION[:1], tokenize=False, add_generation_prompt=True) == prompt
    )


@pytest.mark.parametrize("arch", PUBLISHED)
def test_bos_once_where_the_model_expects_it(arch, processors):
    processor = processors[arch]
    tokenizer = processor.tokenizer
    bos = BOS[arch]
    assert tokenizer.bos_token == bos
    if bos is not None:  # the tokenizer adds BOS when asked for special tokens, like the real ones
        assert tokenizer("a", add_special_tokens=True)["input_ids"][0] == tokenizer.bos_token_id

    text, _ = render_sample(processor, CONVERSATION)
    prompt = render_prompt(processor, CONVERSATION)
    assert text.startswith(prompt)
    batch = ScaleSFTCollator(processor=processor)([{"messages": CONVERSATION, "images": [IMAGE]}])
    eval_ids = processor(images=[IMAGE], text=[prompt], add_special_tokens=False)["input_ids"][0]
    # TRL's GRPO tokenizes prompts through the processor's own chat-template call
    grpo_ids = processor.apply_chat_template(
        [CONVERSATION[:1]], add_generation_prompt=True, tokenize=True, return_dict=True, images=[[IMAGE]]
    )["input_ids"][0]
    for ids in (batch["input_ids"][0].tolist(), list(eval_ids), list(grpo_ids)):
        n_bos = ids.count(tokenizer.bos_token_id) if bos else 0
        assert n_bos == (1 if bos else 0)
        if bos:
            assert ids[0] == tokenizer.bos_token_id
    assert list(grpo_ids) == list(eval_ids)  # evaluation and GRPO ask the same prompt
    assert batch["input_ids"][0].tolist()[: len(eval_ids)] == list(
        eval_ids
    )  # training's prompt is that prefix
