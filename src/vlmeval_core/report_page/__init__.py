"""``vlmeval report``: one self-contained HTML page of one or several runs, and its figures.

:mod:`.inputs` reads run directories (and score directories of ``vlmeval score``),
:mod:`.figures` draws the PNGs (matplotlib, Agg), :mod:`.thumbnails` makes the
bounded image thumbnails of the sampled wrong answers, and :mod:`.page` puts them
into the page (jinja2, ``assets/report.html.j2``) and writes it all. ``vlmeval eval
--report`` asks the process that writes the summary for it (:data:`REPORT_VARIABLE`).
"""

from __future__ import annotations

from collections.abc import Mapping

from vlmeval_core.env_flags import is_set

REPORT_VARIABLE = "VLMEVAL_REPORT"
"""Set to ``1`` by ``vlmeval eval --report`` for the process that writes the summary."""


def report_wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the run's end should also write the report (``VLMEVAL_REPORT``)."""
    return is_set(REPORT_VARIABLE, environ)
