"""``make demo``: build the tiny Qwen2.5-VL and the synthetic data, train vanilla SFT and SCALe-SFT, print
the logged per-segment losses side by side. Offline, on CPU, a few minutes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scale_sft.cli import main as cli


def run(output_dir: Path, steps: int, n_train: int) -> dict[str, list[dict]]:
    model, data = output_dir / "tiny-qwen2_5_vl", output_dir / "data"
    if not (model / "config.json").exists():
        cli(["make-tiny-model", "--out", str(model)])
    if not (data / "dataset_dict.json").exists():
        cli(["make-data", "--out", str(data), "--n", str(n_train), "--n_test", "100"])
    logs = {}
    for method in ("vanilla", "scale"):
        out = output_dir / method
        cli(
            ["train", "--model", str(model), "--dataset", str(data), "--loss_method", method,
             "--output_dir", str(out), "--max_steps", str(steps), "--per_device_train_batch_size", "8",
             "--learning_rate", "2e-3", "--lr_scheduler_type", "cosine", "--warmup_steps", "5",
             "--logging_steps", "10", "--save_strategy", "no", "--report_to", "none", "--seed", "0"]
        )  # fmt: skip
        state = json.loads((out / "trainer_state.json").read_text())
        logs[method] = [h for h in state["log_history"] if "loss_think" in h]
    return logs


def print_table(logs: dict[str, list[dict]]) -> None:
    print("\nstep | vanilla: loss  think  answer | scale: loss  think  answer  w")
    for v, s in zip(logs["vanilla"], logs["scale"], strict=True):
        print(
            f"{v['step']:4d} | {v['loss']:13.3f} {v['loss_think']:6.3f} {v['loss_answer']:7.3f} |"
            f" {s['loss']:11.3f} {s['loss_think']:6.3f} {s['loss_answer']:7.3f}  {s['answer_weight']:.2f}"
        )
    print("\n`loss` is each method's own objective; compare loss_think / loss_answer across methods.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scale-sft demo", description=__doc__)
    parser.add_argument("--output_dir", default="runs/demo")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--n_train", type=int, default=1000)
    args = parser.parse_args(argv)
    print_table(run(Path(args.output_dir), args.steps, args.n_train))


if __name__ == "__main__":
    main()
