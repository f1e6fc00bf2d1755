"""The LLM judge: VLMEvalKit's answer matching and grading by a model, where its rules fail.

``spec.py`` (the flags, as the plan holds them; the key's variables), ``client.py`` (the judge
asked through the endpoint client), ``cache.py`` (its answers in the run directory),
``judged.py`` (what a judged reading gives the driver), ``prompts.py`` (VLMEvalKit's
prompts), and one module per rule: ``mcq.py`` (vanilla and circular), ``yorn.py``,
``mathvista.py``, ``mmvet.py``. The metrics name their rule (``Metric.judged``,
:mod:`vlmeval_core.scoring.metrics`); :func:`vlmeval_core.evaluate.evaluate_dataset` builds the
judge.
"""
