"""The experiment harness the demo (``scale_sft.demo``) and the seeded study (``experiments/`` at the
repository root) share: one typed description of a pipeline (``pipeline``), how its stages are trained and
evaluated (``stages``), what a pipeline costs against SFT + GRPO (``cost``) and the plots (``plots``)."""
