"""The contract with transformers' and TRL's trainers (``scale_sft.trainer_hooks``) holds for the installed
versions: each overridden method still exists with parameters our override takes, every override is listed,
the private members we use still exist, and each mixin finds what it needs on both trainers."""

from __future__ import annotations

import importlib
import inspect

import pytest

from scale_sft.trainer_hooks import HOOKS, NEEDS, SCALE_GRPO, SCALE_SFT, USES

UPGRADE = "a transformers / TRL upgrade renamed or changed it"


def resolve(path: str) -> type:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def incompatibility(ours: inspect.Signature, base: inspect.Signature) -> str | None:
    """Why a call the base class makes could not reach our override (None if every one can): each of the
    base's parameters must be one of ours, at the same position, or taken by our ``**kwargs``; each parameter
    ours requires must be one the base has."""

    def named(sig):
        kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        return [p for p in sig.parameters.values() if p.name != "self" and p.kind not in kinds]

    ours_named, base_named = named(ours), named(base)
    ours_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ours.parameters.values())
    for index, param in enumerate(base_named):
        position = next((i for i, p in enumerate(ours_named) if p.name == param.name), None)
        if position is None and not ours_kwargs:
            return f"the base passes `{param.name}`, which the override does not take"
        if position is not None and position != index:
            return f"`{param.name}` is parameter {index + 1} of the base but {position + 1} of the override"
    required = [p.name for p in ours_named if p.default is inspect.Parameter.empty]
    missing = [name for name in required if name not in {p.name for p in base_named}]
    return f"the override requires {missing}, which the base does not pass" if missing else None


def _sig(function) -> inspect.Signature:
    return inspect.signature(function)


def test_incompatibility_names_what_a_base_call_would_miss():
    def base(self, model, trial, **kwargs): ...
    def dropped(self, model): ...
    def moved(self, trial, model): ...
    def extra(self, model, trial, output_dir): ...
    def taken(self, model, trial=None, *, verbose=False, **kwargs): ...

    assert (
        incompatibility(_sig(dropped), _sig(base))
        == "the base passes `trial`, which the override does not take"
    )
    assert (
        incompatibility(_sig(moved), _sig(base)) == "`model` is parameter 1 of the base but 2 of the override"
    )
    assert incompatibility(_sig(extra), _sig(base)) == (
        "the override requires ['output_dir'], which the base does not pass"
    )
    assert incompatibility(_sig(taken), _sig(base)) is None


@pytest.mark.parametrize("hook", HOOKS, ids=lambda h: f"{h.by.rsplit('.', 1)[1]}.{h.name}")
def test_each_overridden_method_still_exists_with_our_parameters(hook):
    base, ours = resolve(hook.base), resolve(hook.by)
    assert hook.name in vars(ours), (
        f"{hook.by} no longer defines {hook.name}: drop it from trainer_hooks.HOOKS"
    )
    original = getattr(base, hook.name, None)
    assert callable(original), (
        f"{hook.base}.{hook.name} is gone ({UPGRADE}), so {hook.by}'s override no longer runs: it "
        f"{hook.why}. Port it to what replaced {hook.name}."
    )
    problem = incompatibility(inspect.signature(vars(ours)[hook.name]), inspect.signature(original))
    assert problem is None, f"{hook.base}.{hook.name} changed ({UPGRADE}): {problem}; {hook.by} {hook.why}."


def test_every_override_is_listed():
    """A new override of a Trainer / TRL method or attribute is added to ``HOOKS`` (or ``USES``), so upgrades
    check it too."""
    bases = [resolve(path) for path in ("transformers.Trainer", "trl.SFTTrainer", "trl.GRPOTrainer")]
    ours = {  # our trainers and every class of ours they are built from
        f"{cls.__module__}.{cls.__qualname__}": cls
        for trainer in (SCALE_SFT, SCALE_GRPO)
        for cls in resolve(trainer).__mro__
        if cls.__module__.startswith("scale_sft.")
    }
    listed = {(entry.by, entry.name) for entry in HOOKS + USES}
    unlisted = [
        f"{path}.{name}"
        for path, cls in sorted(ours.items())
        for name in vars(cls)
        if not name.startswith("__") and any(hasattr(base, name) for base in bases)
        if (path, name) not in listed
    ]
    assert not unlisted, f"add these overrides to scale_sft.trainer_hooks: {unlisted}"


@pytest.mark.parametrize("use", USES, ids=lambda u: u.name)
def test_each_private_member_we_use_still_exists(use):
    """Set on the class, or assigned in the base class's own code (instance attributes)."""
    base = resolve(use.base)
    assert hasattr(base, use.name) or f"self.{use.name} = " in inspect.getsource(base), (
        f"{use.base}.{use.name} is gone ({UPGRADE}); {use.by} relies on it: {use.why}."
    )


@pytest.fixture(scope="module")
def trainers(tiny_qwen_dir, qwen_processor, synthetic_dir, tmp_path_factory):
    """Both trainers, built on the tiny Qwen2.5-VL (nothing trained)."""
    import datasets
    from transformers import AutoModelForImageTextToText

    from scale_sft import ScaleSFTConfig, ScaleSFTTrainer
    from scale_sft.data.prepare import prepare_dataset
    from scale_sft.grpo.grpo_config import ScaleGRPOConfig
    from scale_sft.grpo.grpo_trainer import ScaleGRPOTrainer
    from scale_sft.grpo.recipe import prompt_only
    from scale_sft.grpo.rewards import build_rewards

    data, _ = prepare_dataset(
        datasets.load_from_disk(str(synthetic_dir))["train"].select(range(4)), qwen_processor
    )
    out = tmp_path_factory.mktemp("hooks")
    common = {"report_to": "none", "per_device_train_batch_size": 2, "max_steps": 1}
    sft = ScaleSFTTrainer(
        AutoModelForImageTextToText.from_pretrained(tiny_qwen_dir),
        args=ScaleSFTConfig(output_dir=str(out / "sft"), **common),
        train_dataset=data,
        processing_class=qwen_processor,
    )
    config = ScaleGRPOConfig(
        output_dir=str(out / "grpo"), num_generations=2, max_completion_length=8, **common
    )
    grpo = ScaleGRPOTrainer(
        AutoModelForImageTextToText.from_pretrained(tiny_qwen_dir),
        reward_funcs=build_rewards(config.rewards, config.tags, config.max_completion_length),
        args=config,
        train_dataset=prompt_only(data),
        processing_class=qwen_processor,
    )
    return {SCALE_SFT: sft, SCALE_GRPO: grpo}


@pytest.mark.parametrize("trainer_path", [SCALE_SFT, SCALE_GRPO])
@pytest.mark.parametrize("mixin_path", sorted(NEEDS))
def test_each_mixin_finds_what_it_needs(trainers, trainer_path, mixin_path):
    trainer = trainers[trainer_path]
    assert isinstance(trainer, resolve(mixin_path))
    for dotted in NEEDS[mixin_path]:
        value = trainer
        for part in dotted.split("."):
            assert hasattr(value, part), (
                f"{mixin_path} reads `{dotted}` from {trainer_path}, which has no `{part}` there"
            )
            value = getattr(value, part)
