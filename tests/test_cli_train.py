"""End to end through the command line: make-tiny-model + make-data + train, each loss method."""

import json

import pytest
import torch
from safetensors.torch import load_file

from scale_sft.cli import main

pytestmark = pytest.mark.integration  # make-tiny-model, make-data and train from the command line


@pytest.fixture(scope="module")
def cli_assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    main(["make-tiny-model", "--out", str(root / "model"), "--seed", "1"])
    main(["make-data", "--out", str(root / "data"), "--n", "120", "--n_test", "10", "--seed", "1"])
    return root


@pytest.mark.parametrize("method", ["scale", "vanilla"])
def test_train_cli(method, cli_assets, tmp_path):
    out = tmp_path / method
    main(
        [
            "train",
            "--model", str(cli_assets / "model"),
            "--dataset", str(cli_assets / "data"),
            "--loss_method", method,
            "--output_dir", str(out),
            "--max_steps", "30",
            "--per_device_train_batch_size", "4",
            "--learning_rate", "3e-3",
            "--logging_steps", "5",
            "--save_strategy", "no",
            "--report_to", "none",
            "--disable_tqdm", "true",
        ]
    )  # fmt: skip
    state = json.loads((out / "trainer_state.json").read_text())
    logs = [h for h in state["log_history"] if "loss" in h]
    assert [h["step"] for h in logs] == [5, 10, 15, 20, 25, 30]
    for h in logs:
        assert {"loss_think", "loss_answer", "answer_share", "think_tokens", "answer_tokens"} <= set(h)
        # the weight the loss puts on ANSWER tokens: their token share (vanilla), or w itself (SCALe, no
        # direct answers in this data); vanilla logs no answer weight, which its loss never uses
        if method == "vanilla":
            assert "answer_weight" not in h
            share = h["answer_tokens"] / (h["answer_tokens"] + h["think_tokens"])
            assert h["answer_share"] == pytest.approx(share, rel=1e-5)
        else:
            assert h["answer_share"] == pytest.approx(h["answer_weight"], rel=1e-5)
        assert 0 <= h["mean_token_accuracy"] <= 1 and h["entropy"] > 0
        assert all(torch.isfinite(torch.tensor(h[k])) for k in ("loss", "loss_think", "loss_answer"))
        assert h["think_tokens"] > 10 * h["answer_tokens"]  # the imbalance SCALe corrects
    assert logs[-1]["loss"] < 0.8 * logs[0]["loss"]
    assert logs[-1]["loss_answer"] < logs[0]["loss_answer"]
    if method == "scale":
        weights = [h["answer_weight"] for h in logs]
        assert weights == sorted(weights) and 0.2 <= weights[0] < weights[-1] <= 0.8

    before, after = (
        load_file(cli_assets / "model" / "model.safetensors"),
        load_file(out / "model.safetensors"),
    )
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)

    run = json.loads((out / "run.json").read_text())
    assert run["loss_method"] == method and run["data"]["kept"] == 120 and run["wall_clock_s"] > 0
    assert run["config"]["answer_weight_schedule"] == "cosine" and run["global_step"] == 30
    assert (out / "preprocessor_config.json").exists() or (out / "processor_config.json").exists()


def test_train_cli_lora_from_yaml(cli_assets, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(
        "loss_method: scale\nmax_steps: 3\nper_device_train_batch_size: 2\nlearning_rate: 0.01\n"
        "use_peft: true\nlora_r: 4\nlora_alpha: 8\nlora_target_modules: [q_proj, v_proj]\n"
        "save_strategy: 'no'\nreport_to: none\nlogging_steps: 1\nanswer_weight_schedule: linear\n"
        "segment_normalization: step\n"
    )
    out = tmp_path / "lora"
    main(["train", "--config", str(config), "--model", str(cli_assets / "model"),
          "--dataset", str(cli_assets / "data"), "--output_dir", str(out), "--answer_weight_end", "0.6"])  # fmt: skip
    adapter = load_file(out / "adapter_model.safetensors")
    assert adapter and all("lora_" in k for k in adapter)
    assert any(k.endswith("lora_B.weight") and v.abs().sum() > 0 for k, v in adapter.items())  # B starts at 0
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["answer_weight_end"] == 0.6 and run["config"]["answer_weight_schedule"] == "linear"
    assert run["segment_normalization"] == run["config"]["segment_normalization"] == "step"
    assert run["model_args"]["use_peft"] is True


def test_freeze_vision_tower(cli_assets):
    from transformers import AutoModelForImageTextToText

    from scale_sft.models.loading import freeze_vision_tower

    model = AutoModelForImageTextToText.from_pretrained(cli_assets / "model")
    encoder = {
        n: p.numel() for n, p in model.named_parameters() if ".visual." in f".{n}" and "merger" not in n
    }
    assert freeze_vision_tower(model) == sum(encoder.values()) > 0
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not trainable & set(encoder)
    assert any("merger" in n for n in trainable)  # Qwen's projector lives under `visual` and stays trainable
    assert any("language_model" in n for n in trainable)
