"""sercore's command lines: the only modules in sercore that print or exit (the library itself does neither)."""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """Flush, then hand `code` straight to the OS, skipping the interpreter's teardown.

    The native thread pools of TensorFlow and pyarrow can abort a finished command during teardown ("terminate
    called without an active exception", exit -6; seen in CI after `reduce` and after a feature-store build).
    Every file sertack writes is closed (atomic renames) before a command returns, so nothing needs the teardown.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
