"""Errors that end a run with one clear line and the exit code of docs/architecture.md.

2: usage or validation (bad flag, unknown name, broken input file).
3: environment or runtime failure (driver, NCCL, out of memory, download).
"""


class VlmevalError(Exception):
    """A failure the user can act on; its message is the whole report."""

    exit_code = 3


class UsageError(VlmevalError):
    """The input is wrong: a flag, a name, a file. Exit 2."""

    exit_code = 2


class RuntimeFailure(VlmevalError):
    """The environment failed the run: driver, NCCL, memory, network. Exit 3."""

    exit_code = 3
