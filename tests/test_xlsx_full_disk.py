"""A disk that fills while the xlsx is written: one OSError, and no stray traceback.

openpyxl writes the workbook through a ZipFile on the open file; when a write
fails, that ZipFile was left open and, when collected, tried to write its central
directory again, which printed "Exception ignored in: <function ZipFile.__del__>"
and a second traceback after the run's one line.
"""

from __future__ import annotations

import errno
import gc
import os
import secrets
import sys

import pandas as pd
import pytest

from vlmeval_core.files import write_atomic_with
from vlmeval_core.report import _write_xlsx

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root (CI is)")


@needs_root
def test_a_disk_full_during_the_xlsx_is_one_error_and_nothing_unraisable(small_tmpfs, monkeypatch):
    unraisable: list[object] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    sheet = pd.DataFrame(
        {"index": range(400), "prediction": [secrets.token_hex(200) for _ in range(400)]}
    )  # about 160 KB of text that does not compress: more than the disk holds
    target = small_tmpfs / "tiny-vlm_Big.xlsx"
    with pytest.raises(OSError) as failed:
        write_atomic_with(target, lambda handle: _write_xlsx(handle, sheet), binary=True)
    code = failed.value.errno
    del failed  # its traceback holds the frames of the failed write
    gc.collect()
    assert code == errno.ENOSPC
    assert unraisable == [], "nothing is left to fail again when it is collected"
    assert list(small_tmpfs.iterdir()) == [], "no temp file is left behind"
