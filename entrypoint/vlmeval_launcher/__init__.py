"""The ``vlmeval`` command: validates a run and hands it to its ranks, without importing torch.

``cli`` holds the commands, ``gpus`` the NVML discovery, ``plan`` the flag
validation that yields a run plan, ``exec_ranks`` the argv and the exec, and
``doctor`` the environment checks.
"""

from vlmeval_core import __version__

__all__ = ["__version__"]
