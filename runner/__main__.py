"""`python -m runner ...` (see runner/cli.py)."""

import logging
import os
import sys

from .cli import main

if __name__ == "__main__":
    code = main()
    # Hand the status straight to the OS once everything is flushed: the native thread pools of TensorFlow and
    # pyarrow can abort the interpreter's teardown ("terminate called without an active exception", exit -6) after
    # a command that finished and printed its result (seen once in `reduce` on the loaded CI machine). Every file
    # we write is closed (atomic renames) before main returns, so nothing of ours needs the teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)
