"""Shared fixtures, built once per test session: a tiny Qwen2.5-VL saved to disk and a synthetic dataset."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def tiny_qwen_dir(tmp_path_factory):
    from scale_sft.models.tiny import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny-qwen2_5_vl", arch="qwen2_5_vl", seed=0)


@pytest.fixture(scope="session")
def qwen_processor(tiny_qwen_dir):
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(tiny_qwen_dir)


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory):
    from scale_sft.data.synthetic import save_dataset

    out = tmp_path_factory.mktemp("data") / "synthetic"
    save_dataset(out, n_train=64, n_test=20, seed=0)
    return out
