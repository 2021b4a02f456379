"""LMMs-Eval task configurations for chain-of-thought models, shipped with the package (docs/LMMS_EVAL.md).

Pass this folder to lmms-eval's ``--include_path`` (``TASKS_DIR``) and run the tasks ``scienceqa_img_cot`` or
``iconqa_cot``: the published ScienceQA-IMG and IconQA test sets, asked with the project's prompt (the
think/answer instruction), given a budget that fits a reasoning trace, and scored by ``scale-sft eval``'s own
scoring (``utils``), so the two tools give the same accuracy on the same generations.
"""

from pathlib import Path

TASKS_DIR = Path(__file__).parent
