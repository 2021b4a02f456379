"""The paper's other families, Gemma 3 (SigLIP) and LLaVA-NeXT (Mistral + CLIP): built tiny, saved and loaded
back by path, segment ids token by token, and ``scale-sft train`` end to end with both losses."""

import json

import pytest
import torch
from helpers import collate_rows
from PIL import Image
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor

from scale_sft.cli import main
from scale_sft.data.format import cot_completion

pytestmark = pytest.mark.integration  # builds and trains Gemma 3 and LLaVA-NeXT

FAMILIES = {
    # arch: (model class, processor class, image tokens for a 112 px image, tokens that end the generation prompt)
    "gemma3": ("Gemma3ForConditionalGeneration", "Gemma3Processor", 16, ["<start_of_turn>", "model", "Ċ"]),
    "llava_next": ("LlavaNextForConditionalGeneration", "LlavaNextProcessor", 88, ["Ġ[/", "INST", "]"]),
}
IMAGE = Image.new("RGB", (112, 112), "white")


@pytest.fixture(scope="module")
def family_root(tmp_path_factory):
    from scale_sft.data.synthetic import save_dataset

    root = tmp_path_factory.mktemp("families")
    for arch in FAMILIES:
        main(["make-tiny-model", "--arch", arch, "--out", str(root / arch), "--seed", "0"])
    save_dataset(root / "data", n_train=8, n_test=2, seed=0)
    return root


@pytest.fixture(scope="module")
def processors(family_root):
    return {arch: AutoProcessor.from_pretrained(family_root / arch) for arch in FAMILIES}


def _collate(processor, samples, padding_side="right"):
    return collate_rows(processor, samples, IMAGE, padding_side)


def _split(arch, processor, row):
    """The row before the generation prompt's last tokens, and the rest (those tokens + the completion)."""
    marker = FAMILIES[arch][3]
    tokens = [tok for tok, _ in row]
    start = max(i for i in range(len(tokens)) if tokens[i : i + len(marker)] == marker)
    head = row[:start]
    assert all(seg == 0 for _, seg in head)
    assert sum(tok == processor.tokenizer.image_token for tok, _ in head) == FAMILIES[arch][2]
    return row[start:]


@pytest.mark.parametrize("arch", FAMILIES)
def test_saved_and_loaded_by_path(arch, family_root, processors):
    model = AutoModelForImageTextToText.from_pretrained(family_root / arch)
    assert type(model).__name__ == FAMILIES[arch][0]
    assert type(processors[arch]).__name__ == FAMILIES[arch][1]
    assert (family_root / arch / "model.safetensors").exists()
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 5e6
    eos = model.generation_config.eos_token_id
    end_of_turn = {"gemma3": "<end_of_turn>", "llava_next": "</s>"}[arch]
    assert processors[arch].tokenizer.convert_tokens_to_ids(end_of_turn) in (
        eos if isinstance(eos, list) else [eos]
    )


# The completion after the generation prompt: `<think>` (prompt) / `</think>` split into BPE pieces that merge with
# their neighbours, `>Ċ` after `</think>` is THINK, `<answer` on is ANSWER, with the template's end of turn.
NORMAL = {
    "gemma3": [
        ("<start_of_turn>", 0), ("model", 0), ("Ċ", 0),
        ("<think", 1), (">Ċ", 1), ("There", 1), ("Ġare", 1), ("Ġ", 1), ("5", 1), ("Ġred", 1), ("Ġshapes", 1),
        (".Ċ", 1), ("</", 1), ("think", 1), (">Ċ", 1),
        ("<answer", 2), (">B", 2), ("</", 2), ("answer", 2), (">", 2), ("<end_of_turn>", 2), ("Ċ", 2),
    ],
    # Mistral's generation prompt ends at `[/INST]`: the space before the reasoning is the completion's, and so is
    # the space llava-hf's template writes after `</s>`.
    "llava_next": [
        ("Ġ[/", 0), ("INST", 0), ("]", 0),
        ("Ġ<", 1), ("think", 1), (">Ċ", 1), ("There", 1), ("Ġare", 1), ("Ġ", 1), ("5", 1), ("Ġred", 1),
        ("Ġshapes", 1), (".Ċ", 1), ("</", 1), ("think", 1), (">Ċ", 1),
        ("<answer", 2), (">B", 2), ("</", 2), ("answer", 2), (">", 2), ("</s>", 2), ("Ġ", 2),
    ],
}  # fmt: skip
DIRECT = {
    "gemma3": [
        ("<start_of_turn>", 0), ("model", 0), ("Ċ", 0),
        ("<answer", 2), (">", 2), ("3", 2), ("</", 2), ("answer", 2), (">", 2), ("<end_of_turn>", 2), ("Ċ", 2),
    ],
    "llava_next": [
        ("Ġ[/", 0), ("INST", 0), ("]", 0),
        ("Ġ<", 2), ("answer", 2), (">", 2), ("3", 2), ("</", 2), ("answer", 2), (">", 2), ("</s>", 2), ("Ġ", 2),
    ],
}  # fmt: skip


@pytest.mark.parametrize("arch", FAMILIES)
def test_segments_token_by_token(arch, processors):
    processor = processors[arch]
    samples = [
        ("Is <think> here?", cot_completion("There are 5 red shapes.", "B")),
        ("How many?", "<answer>3</answer>"),
    ]
    _, (normal,) = _collate(processor, samples[:1])
    _, (direct,) = _collate(processor, samples[1:])
    assert _split(arch, processor, normal) == NORMAL[arch]
    assert _split(arch, processor, direct) == DIRECT[arch]

    # Batched with either padding side: the same rows, labels exactly where segments are, and Gemma's
    # token_type_ids (its bidirectional image attention) marking exactly the image tokens.
    for side in ("left", "right"):
        batch, rows = _collate(processor, samples, side)
        assert rows == [normal, direct]
        assert torch.equal(batch["labels"] != -100, batch["segment_ids"] > 0)
        if arch == "gemma3":
            assert torch.equal(
                batch["token_type_ids"] == 1, batch["input_ids"] == processor.tokenizer.image_token_id
            )


@pytest.mark.parametrize("method", ["scale", "vanilla"])
@pytest.mark.parametrize("arch", FAMILIES)
def test_train_cli(arch, method, family_root, tmp_path):
    out = tmp_path / f"{arch}-{method}"
    main(
        [
            "train",
            "--model", str(family_root / arch),
            "--dataset", str(family_root / "data"),
            "--loss_method", method,
            "--output_dir", str(out),
            "--max_steps", "4",
            "--per_device_train_batch_size", "2",
            "--learning_rate", "3e-3",
            "--logging_steps", "2",
            "--save_strategy", "no",
            "--report_to", "none",
            "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    state = json.loads((out / "trainer_state.json").read_text())
    logs = [h for h in state["log_history"] if "loss" in h]
    assert [h["step"] for h in logs] == [2, 4]
    for h in logs:
        assert h["think_tokens"] > 0 and h["answer_tokens"] > 0
        assert all(torch.isfinite(torch.tensor(h[k])) for k in ("loss", "loss_think", "loss_answer"))
    before, after = load_file(family_root / arch / "model.safetensors"), load_file(out / "model.safetensors")
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert type(AutoModelForImageTextToText.from_pretrained(out)).__name__ == FAMILIES[arch][0]
