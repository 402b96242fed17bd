r"""What a name, an id or a note may hold: no control characters, and a bounded length.

Names and ids (a farmer's id and name, a product code, an ear tag, a device's
label) are shown on pages, printed by the command line and written to the
ledger. A control character in one (an escape sequence that repaints a
terminal, a bell, a bidirectional override that shows ``fdp.exe`` as
``exe.pdf``) is never what a person typed; such text is refused, naming the
field. A note typed by a person (a decision's reason) may hold line breaks and
tabs, nothing else of the kind.

>>> first_control("F-0001"), first_control("a\x1b[2Jb"), first_control("a\nb", note=True)
(None, 1, None)
>>> shown("x" * 50)
"'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'..."
"""

from __future__ import annotations

import unicodedata

__all__ = ["NOTE_BREAKS", "first_control", "shown"]

NOTE_BREAKS = frozenset("\t\n\r")
"""The control characters a typed note may hold: tab and line breaks."""

_FORMAT_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    "\u2028\u2029"
)
"""Bidirectional marks, embeddings, overrides and isolates, and the Unicode line
and paragraph separators: they reorder or break what a reader sees."""


def first_control(text: str, *, note: bool = False) -> int | None:
    """The index of the first control character of ``text``, or None.

    Control characters are Unicode's ``Cc`` (C0, DEL, C1; NUL included) and the
    bidirectional and line-separating format characters. With ``note``, tab,
    line feed and carriage return are allowed (a typed note's line breaks).
    """
    for i, c in enumerate(text):
        if note and c in NOTE_BREAKS:
            continue
        if c in _FORMAT_CONTROLS or unicodedata.category(c) == "Cc":
            return i
    return None


def shown(value: object, most: int = 40) -> str:
    """``value`` quoted for an error message, cut after ``most`` characters.

    Error messages name what was refused without echoing a 10 MB input back.
    """
    text = str(value)
    if len(text) <= most:
        return repr(text)
    return repr(text[:most]) + "..."
