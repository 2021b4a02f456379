"""Benchmarks for the issue "Performance: SCALe at the cost of vanilla SFT".

Three benchmarks, every variant in a FRESH subprocess (this script re-invoking itself with ``--variant``), with
``torch.set_num_threads(2)``; one module per job:

- ``loss_op.py``: the loss at a realistic shape, ours (TRL's fused LM head + ``scale_loss``) against the
  transformers default (a), a naive weighted loss on full logits (b) and TRL's fused head with its vanilla loss (c);
- ``training_step.py``: optimizer steps of ``ScaleSFTTrainer`` (scale, vanilla) and TRL's ``SFTTrainer``;
- ``gradient.py``: the fused SCALe gradients against autograd on full logits;
- ``memory.py``: the peak-memory probe of each subprocess; ``common.py``: settings, the subprocess runner;
- ``goals.py``: the goals by id and their judgement; ``report.py``: notes and RESULTS.md.

Time and throughput goals are judged on process CPU seconds per token of the least disturbed subprocess, with
the wall-clock median beside it as information; variants are interleaved over ``--rounds`` rounds (order rotated
each round). Subprocesses run with ``MALLOC_MMAP_THRESHOLD_=65536`` (``--malloc-mmap-threshold``) so that glibc
returns freed tensors to the OS at once and the resident set follows live memory. Every figure that is compared is
a ratio measured in the same run.

    python benchmarks/run.py                 # full run (about 10 minutes on 2 idle cores), writes benchmarks/RESULTS.md
    python benchmarks/run.py --small --out /tmp/bench   # seconds-scale smoke run
    python benchmarks/run.py --render-only   # ratios, goals, notes and RESULTS.md again from results.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

import gradient
import loss_op
import training_step
from common import (
    HERE,
    NUM_THREADS,
    GradShape,
    LossShape,
    TrainModel,
    aggregate,
    machine_info,
    rotated,
    run_child,
    settings,
)
from goals import judge
from memory import memory_method
from report import explain, render_markdown


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="tiny shapes and few steps (smoke test)")
    parser.add_argument("--out", default=str(HERE), help="where RESULTS.md and results.json go")
    parser.add_argument(
        "--render-only", action="store_true", help="re-derive everything from OUT/results.json"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="interleaved rounds (default 2, 1 with --small)"
    )
    parser.add_argument(
        "--loss-repeats", type=int, default=None, help="measured loss-op steps per subprocess"
    )
    parser.add_argument(
        "--train-steps", type=int, default=None, help="measured optimizer steps per subprocess"
    )
    parser.add_argument("--extras", action="store_true", help=f"also run the loss variants {loss_op.EXTRAS}")
    parser.add_argument("--jobs", type=int, default=1, help="subprocesses at once (timings need 1)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per subprocess")
    parser.add_argument(
        "--malloc-mmap-threshold",
        type=int,
        default=65536,
        help="MALLOC_MMAP_THRESHOLD_ for the subprocesses (0: glibc's dynamic default); see RESULTS.md",
    )
    for hidden in ("--variant", "--payload", "--result", "--workdir"):  # a subprocess's job
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    return parser.parse_args()


def run_variant(args: argparse.Namespace) -> None:
    """In a subprocess: measure one variant and write its dict to ``--result``."""
    import torch

    torch.set_num_threads(NUM_THREADS)
    payload = json.loads(args.payload)
    kind, _, name = args.variant.partition(":")
    if kind == "loss":
        result = loss_op.measure(name, LossShape(**payload))
    elif kind == "grad":
        result = gradient.measure(GradShape(**payload))
    elif kind == "train":
        result = training_step.measure(name, TrainModel(**payload), Path(args.workdir))
    else:
        raise SystemExit(f"unknown variant {args.variant!r}")
    Path(args.result).write_text(json.dumps(result))


def measure_all(args: argparse.Namespace, log) -> dict:
    """Every subprocess, submitted in round order; their results aggregated per variant."""
    cfg = settings(args.small)
    cfg.rounds = args.rounds or cfg.rounds
    cfg.loss.repeats = args.loss_repeats or cfg.loss.repeats
    for m in cfg.models:
        m.steps = args.train_steps or m.steps
    mmap = args.malloc_mmap_threshold
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:

        def submit(variant: str, payload) -> object:
            return pool.submit(run_child, variant, asdict(payload), args.timeout, mmap)

        grad_job = submit("grad", cfg.grad)
        # ours and (c) share the fused kernel and their time ratio is a goal: they run every round, interleaved.
        # (a), (b) and the extras (memory goals, deterministic peaks; times for context) run in the first round.
        loss_variants = loss_op.VARIANTS + (loss_op.EXTRAS if args.extras else ())
        loss_jobs = {v: [] for v in loss_variants}
        for r in range(cfg.rounds):
            for v in rotated(loss_op.VARIANTS[:2], r) + (list(loss_variants[2:]) if r == 0 else []):
                loss_jobs[v].append(submit(f"loss:{v}", cfg.loss))
        train_jobs = {m.name: {v: [] for v in training_step.VARIANTS} for m in cfg.models}
        for m in cfg.models:
            for r in range(cfg.rounds):
                for v in rotated(training_step.VARIANTS, r):
                    train_jobs[m.name][v].append(submit(f"train:{v}", m))
        results = {
            "rounds": cfg.rounds,
            "gradient": {**grad_job.result(), "shape": asdict(cfg.grad)},
            "loss_op": {
                "shape": asdict(cfg.loss),
                "variants": {v: aggregate([f.result() for f in fs]) for v, fs in loss_jobs.items()},
            },
            "train": {
                m.name: {
                    "spec": asdict(m),
                    "variants": {
                        v: aggregate([f.result() for f in fs]) for v, fs in train_jobs[m.name].items()
                    },
                }
                for m in cfg.models
            },
        }
    log(f"gradient max abs diff {results['gradient']['max_abs_diff']:.3g}")
    return results


def summarise(results: dict) -> None:
    """Derived figures, the goals and the notes, from the measurements in ``results`` (in place)."""
    loss_op.summarise(results["loss_op"])
    for res in results["train"].values():
        training_step.summarise(res)
    results["goals"] = judge(results)
    results["notes"] = explain(results)


def write(results: dict, out_dir: Path, render_only: bool = False) -> None:
    report = render_markdown(results, render_only)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out_dir / "RESULTS.md").write_text(report)
    for g in results["goals"]:
        print(
            f"  {'MET ' if g['met'] else 'MISS'} {g['name']}: {g['value']:.4g} ({g['op']} {g['threshold']})"
        )


def main() -> None:
    args = parse_args()
    if args.variant is not None:
        run_variant(args)
        return
    out_dir = Path(args.out)
    if args.render_only:
        results = json.loads((out_dir / "results.json").read_text())
        summarise(results)
        write(results, out_dir, render_only=True)
        return
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:7.1f}s] {msg}", flush=True)

    out_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    results = {
        "command": "python benchmarks/run.py" + "".join(f" {shlex.quote(a)}" for a in sys.argv[1:]),
        "small": args.small,
        "jobs": args.jobs,
        "machine": machine,
        "malloc_mmap_threshold": args.malloc_mmap_threshold,
        "memory_method": memory_method(args.malloc_mmap_threshold),
        **measure_all(args, log),
    }
    results["wall_s"] = time.perf_counter() - t0
    machine["load_average_at_end"] = list(os.getloadavg())
    summarise(results)
    write(results, out_dir)
    log(f"wrote {out_dir / 'RESULTS.md'} and {out_dir / 'results.json'}")


if __name__ == "__main__":
    main()
