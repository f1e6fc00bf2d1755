"""``python -m vlmeval_core.endpoint PLAN.json``: the one process of an endpoint run.

What ``vlmeval eval --api-base`` execs instead of the ranks' supervisor: the plan's
datasets run as rank 0 of 1 (:func:`vlmeval_core.run_datasets.main`, the ranks' own
body: no process group, no GPU), which prints its own one error line; then, as the
supervisor does, it prints the summary on success (unless ``VLMEVAL_QUIET=1``),
ends the launch's attempt (exit code, run lock) and leaves without waiting for
requests still in flight.
"""

import sys
from pathlib import Path

from vlmeval_core import lifecycle, run_datasets
from vlmeval_core.run_end import exit_now
from vlmeval_core.run_summary import print_summary
from vlmeval_core.run_verdict import judge_run


def main() -> int:
    code = run_datasets.main()
    if code == 0:
        print_summary(Path(sys.argv[-1]).parent)
        code = judge_run(Path(sys.argv[-1]).parent)
    return code


if __name__ == "__main__":
    exit_now(lifecycle.conclude(main()))
