"""Text read from run-folder files (error files, lock files) made safe to print on a terminal.

An error file holds whatever a job's exception said: a library's ANSI colours, raw bytes from a corrupt input,
a terminal escape that retitles the window or moves the cursor. `printable` is the one filter every such text
passes before `status`, `submit` or `reduce --strict` print it.
"""

from __future__ import annotations

import re

from .gridfile import clip

# CSI (`ESC [ ... final`), OSC (`ESC ] ... BEL|ST`) and the two-character escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
REASON_CHARS = 300


def printable(text: str, limit: int = REASON_CHARS) -> str:
    """`text` without ANSI escapes, tabs as spaces, every other non-printable character (controls, bidi
    overrides) as '?', cut to `limit` characters."""
    text = _ANSI.sub("", text).replace("\t", " ")
    return clip("".join(c if c.isprintable() else "?" for c in text), limit)
