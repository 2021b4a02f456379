"""Segment labelling, BOS and the saved tokenizer with the real vocabularies of Qwen2.5-VL and LLaVA-NeXT.

The tiny models' tokenizers are trained locally; these are the published ones, from files PyPI packages ship
(``pip install -e ".[real-vocab]"``): Qwen2's 151,643 BPE ranks (``qwen.tiktoken`` in ``dashscope``) and
Mistral-7B v0.x's 32,000-piece sentencepiece model (``tokenizer.model.v1`` in ``mistral-common``). Each is
wrapped as the tiny model's processor tokenizer with the published chat template, and a record is labelled
token by token. Skipped where the packages are absent.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import datasets
import pytest
from helpers import collate_rows
from PIL import Image
from transformers import (
    AutoProcessor,
    LlamaTokenizer,
    LlavaNextProcessor,
    PreTrainedTokenizerFast,
    Qwen2_5_VLProcessor,
    Qwen2VLVideoProcessor,
)

from scale_sft.data.format import cot_completion, probe_texts
from scale_sft.models.chat_templates import LLAVA_NEXT_CHAT_TEMPLATE, QWEN_CHAT_TEMPLATE
from scale_sft.models.processor import save_processor
from scale_sft.models.tiny import make_tiny_model
from scale_sft.models.tiny_common import QWEN_SPLIT

pytestmark = pytest.mark.integration  # builds a LLaVA-NeXT model and reads published vocabularies

IMAGE = Image.new("RGB", (112, 112), "white")
SAMPLES = [
    ("Is <think> here?", cot_completion("There are 5 red shapes.", "B")),
    ("How many?", "<answer>3</answer>"),
]
# Qwen2.5-VL's special tokens from id 151643 on (the rest of its 22 do not occur in a record).
QWEN_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>",
    "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>",
]  # fmt: skip


INSTALL = "pip install -e '.[real-vocab]'"


def _package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, found without importing the package (its SDK is not needed)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{package} is not installed ({INSTALL})")
    return Path(next(iter(spec.submodule_search_locations)), *parts)


@pytest.fixture(scope="module")
def qwen(request):
    """The tiny Qwen2.5-VL's processor around Qwen2's real byte-level BPE."""
    pytest.importorskip("tiktoken", reason=INSTALL)
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = _package_file("dashscope", "resources", "qwen.tiktoken")
    qwen_processor = request.getfixturevalue("qwen_processor")  # built only when the test runs
    backend = TikTokenConverter(vocab_file=str(ranks), pattern=QWEN_SPLIT, extra_special_tokens=QWEN_SPECIALS)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend.converted(), eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    return Qwen2_5_VLProcessor(
        image_processor=qwen_processor.image_processor,
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=QWEN_CHAT_TEMPLATE,
    )


@pytest.fixture(scope="module")
def mistral_model() -> Path:
    """Mistral-7B v0.x's sentencepiece model, and the libraries transformers converts it with."""
    pytest.importorskip("sentencepiece", reason=INSTALL)
    pytest.importorskip("google.protobuf", reason=INSTALL)
    return _package_file("mistral_common", "data", "tokenizer.model.v1")


def _mistral_tokenizer(model: Path, directory: Path, legacy: bool = False) -> LlamaTokenizer:
    """Mistral's sentencepiece model as llava-hf uses it: BOS added, ``<image>`` 32000 and ``<pad>`` 32001."""
    directory.mkdir()
    shutil.copy(model, directory / "tokenizer.model")
    tokenizer = LlamaTokenizer.from_pretrained(directory, add_bos_token=True, legacy=legacy)
    tokenizer.add_tokens(["<image>"], special_tokens=True)
    tokenizer.add_special_tokens({"pad_token": "<pad>"})
    return tokenizer


@pytest.fixture(scope="module")
def llava_image_processor(tmp_path_factory):
    root = tmp_path_factory.mktemp("real-vocab")
    return AutoProcessor.from_pretrained(make_tiny_model(root / "llava", arch="llava_next")).image_processor


def _llava(image_processor, tokenizer) -> LlavaNextProcessor:
    return LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        chat_template=LLAVA_NEXT_CHAT_TEMPLATE,
        image_token="<image>",
        num_additional_image_tokens=1,
    )


def _completion_rows(processor, marker: list[str], image_tokens: int) -> list[list[tuple[str, int]]]:
    """Each sample's (token, segment) pairs from the generation prompt's last tokens (``marker``) on; checks
    that everything before them is unlabelled and holds the expected number of image tokens."""
    _, rows = collate_rows(processor, SAMPLES, IMAGE)
    tails = []
    for row in rows:
        tokens = [tok for tok, _ in row]
        start = max(i for i in range(len(tokens)) if tokens[i : i + len(marker)] == marker)
        assert all(seg == 0 for _, seg in row[:start])
        assert tokens[:start].count(processor.image_token) == image_tokens
        tails.append(row[start:])
    return tails


def test_qwen_real_vocabulary(qwen):
    tokenizer = qwen.tokenizer
    assert len(tokenizer) == 151_643 + len(QWEN_SPECIALS)
    assert tokenizer("Hello world")["input_ids"] == [9707, 1879]
    assert tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|im_start|>", "<|im_end|>"]) == [
        151643,
        151644,
        151645,
    ]
    assert tokenizer.convert_tokens_to_ids(
        ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
    ) == [151652, 151653, 151655, 151656]
    normal, direct = _completion_rows(qwen, ["<|im_start|>", "assistant", "Ċ"], image_tokens=16)
    assert normal == [
        ("<|im_start|>", 0), ("assistant", 0), ("Ċ", 0),
        ("<th", 1), ("ink", 1), (">Ċ", 1), ("There", 1), ("Ġare", 1), ("Ġ", 1), ("5", 1), ("Ġred", 1),
        ("Ġshapes", 1), (".Ċ", 1), ("</", 1), ("think", 1), (">Ċ", 1),
        ("<", 2), ("answer", 2), (">B", 2), ("</", 2), ("answer", 2), (">", 2), ("<|im_end|>", 2), ("Ċ", 2),
    ]  # fmt: skip
    assert direct == [
        ("<|im_start|>", 0), ("assistant", 0), ("Ċ", 0),
        ("<", 2), ("answer", 2), (">", 2), ("3", 2), ("</", 2), ("answer", 2), (">", 2), ("<|im_end|>", 2), ("Ċ", 2),
    ]  # fmt: skip


def test_mistral_real_vocabulary(mistral_model, llava_image_processor, tmp_path):
    tokenizer = _mistral_tokenizer(mistral_model, tmp_path / "mistral")
    assert len(tokenizer) == 32_002
    assert tokenizer.convert_tokens_to_ids(["<unk>", "<s>", "</s>", "<image>"]) == [0, 1, 2, 32000]
    assert tokenizer("Hello world", add_special_tokens=False)["input_ids"] == [22557, 1526]
    assert tokenizer("Hello world")["input_ids"] == [1, 22557, 1526]
    processor = _llava(llava_image_processor, tokenizer)
    _, rows = collate_rows(processor, SAMPLES, IMAGE)
    for row in rows:  # llava-hf's template writes no BOS; the model was trained with it first, once
        assert [tok for tok, _ in row].count("<s>") == 1 and row[0] == ("<s>", 0)
    normal, direct = _completion_rows(processor, ["▁[", "/", "INST", "]"], image_tokens=88)
    # Sentencepiece writes a newline as the byte token <0x0A>: the one after </think> starts ANSWER.
    assert normal == [
        ("▁[", 0), ("/", 0), ("INST", 0), ("]", 0),
        ("▁<", 1), ("think", 1), (">", 1), ("<0x0A>", 1), ("There", 1), ("▁are", 1), ("▁", 1), ("5", 1),
        ("▁red", 1), ("▁shapes", 1), (".", 1), ("<0x0A>", 1), ("</", 1), ("think", 1), (">", 1),
        ("<0x0A>", 2), ("<", 2), ("answer", 2), (">", 2), ("B", 2), ("</", 2), ("answer", 2), (">", 2),
        ("</s>", 2), ("▁", 2),
    ]  # fmt: skip
    assert direct == [
        ("▁[", 0), ("/", 0), ("INST", 0), ("]", 0),
        ("▁<", 2), ("answer", 2), (">", 2), ("3", 2), ("</", 2), ("answer", 2), (">", 2), ("</s>", 2), ("▁", 2),
    ]  # fmt: skip


def test_mistral_legacy_tokenizer_saved_as_loaded(mistral_model, llava_image_processor, tmp_path):
    """With ``legacy=True`` a plain save reloads as ``legacy=False``; ``save_processor`` keeps the setting."""
    tokenizer = _mistral_tokenizer(mistral_model, tmp_path / "mistral", legacy=True)
    processor = _llava(llava_image_processor, tokenizer)
    records = datasets.Dataset.from_list(
        [{"messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]},
                       {"role": "assistant", "content": [{"type": "text", "text": a}]}]} for q, a in SAMPLES]
    )  # fmt: skip
    probes = probe_texts(processor, records)

    def ids(proc):
        return [proc.tokenizer(text, add_special_tokens=False)["input_ids"] for text in probes]

    processor.save_pretrained(tmp_path / "plain")
    assert ids(AutoProcessor.from_pretrained(tmp_path / "plain")) != ids(processor)
    save_processor(processor, tmp_path / "checked", probes)
    assert ids(AutoProcessor.from_pretrained(tmp_path / "checked")) == ids(processor)
