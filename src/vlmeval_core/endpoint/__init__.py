"""The endpoint backend: a model behind an OpenAI-compatible ``/v1/chat/completions``.

A second backend behind the same model seam as :mod:`vlmeval_core.models.hf`:
the items, prompts and images come from the same :class:`~vlmeval_core.datasets.tsv.Dataset`
and prompt family (:mod:`vlmeval_core.prompt_families`); the predictions go to the
same checkpoints, merge, scoring and report. What differs is who answers, and
that one process keeps ``--api-concurrency`` requests in flight instead of
ranks being started.

* :mod:`.options`: the flags' values checked (torch-free, for the launcher);
* :mod:`.client`: one request per item, with its timeout, retries and faults;
* :mod:`.runner`: every unfinished item of a dataset, concurrently, checkpointed as
  each request completes;
* ``python -m vlmeval_core.endpoint PLAN.json``: the process the launcher execs.
"""
