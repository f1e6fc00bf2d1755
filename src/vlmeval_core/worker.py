"""Entry of every rank: ``python -m vlmeval_core.worker PLAN.json`` (started by the supervisor).

The rank runs the plan's datasets (:func:`vlmeval_core.run_datasets.main`, which an
api run's one process, ``python -m vlmeval_core.endpoint``, runs too) and leaves at
once with its exit code: 0 done, 2 bad input, 3 runtime failure, 130/143
interrupted (what finished is kept).
"""

from vlmeval_core.run_datasets import main
from vlmeval_core.run_end import exit_now

if __name__ == "__main__":
    exit_now(main())
