"""``train_sampling_strategy="group_by_length"`` samples vision records by the token counts preparation wrote
(``prepare_dataset``, which ``scale-sft train`` runs), not by ``input_ids`` that records do not have."""

import datasets
import pytest
from transformers import AutoModelForImageTextToText
from transformers.trainer_pt_utils import LengthGroupedSampler

from scale_sft import ScaleSFTConfig, ScaleSFTTrainer
from scale_sft.data.prepare import prepare_dataset

pytestmark = pytest.mark.integration


def test_group_by_length_uses_the_prepared_lengths(tiny_qwen_dir, qwen_processor, synthetic_dir, tmp_path):
    train, _ = prepare_dataset(datasets.load_from_disk(str(synthetic_dir))["train"].select(range(16)), qwen_processor)
    config = ScaleSFTConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=1, report_to="none",
        train_sampling_strategy="group_by_length", save_strategy="no", disable_tqdm=True,
    )  # fmt: skip
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen_dir)
    trainer = ScaleSFTTrainer(model, args=config, train_dataset=train, processing_class=qwen_processor)
    batch = next(iter(trainer.get_train_dataloader()))  # the length column reaches the sampler, not the model
    assert "length" not in batch and batch["input_ids"].shape[0] == 2
    sampler = trainer._get_train_sampler(trainer.train_dataset)
    assert isinstance(sampler, LengthGroupedSampler)
    assert sampler.lengths == trainer.train_dataset["length"]
    assert len(set(sampler.lengths)) > 1  # the records differ in length, so grouping has something to do
