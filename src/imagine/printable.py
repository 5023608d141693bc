"""Text from a server or a file made safe to show: one line, no control characters, bounded.

A server's error message may carry terminal escapes (``ESC]0;…BEL`` retitles the terminal), carriage
returns that overwrite what was printed, or a megabyte of HTML. Everything such a source says goes
through ``printable`` before it reaches a message.
"""

from __future__ import annotations

import unicodedata

LIMIT = 300  # characters; enough for any real error message, short enough for one terminal line
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Format characters that are part of ordinary text (emoji sequences, some scripts), not tricks.
_HARMLESS = {"\u200c", "\u200d"}
_ESCAPED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def printable(text: object, limit: int = LIMIT, *, lines: bool = False) -> str:
    """``text`` made safe for a terminal: control and format characters (escapes, carriage
    returns, bidi overrides) shown as backslash escapes, and cut to ``limit`` characters plus
    "…". On one line, unless ``lines`` keeps its newlines (for the tool's own several-line
    messages)."""
    shown: list[str] = []
    size = 0
    for char in str(text):
        piece = "\n" if lines and char == "\n" else _escaped(char)
        size += len(piece)
        if size > limit:
            shown.append("…")
            break
        shown.append(piece)
    return "".join(shown)


def _escaped(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    if char not in _HARMLESS and unicodedata.category(char) in _ESCAPED_CATEGORIES:
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char
