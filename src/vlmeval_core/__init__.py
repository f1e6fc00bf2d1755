"""The evaluator that runs inside every rank.

Importing this package (and its registries, plan and file helpers) stays free
of torch and transformers, so the launcher can validate a run with the same
code the ranks use.
"""

__version__ = "0.1.0"
