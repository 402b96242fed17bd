"""The words a reader sees for a check or a capture verdict (tests read reasons through these)."""

from __future__ import annotations

from claims import CaptureVerdict
from server.i18n import Lang, render_check, render_message
from underwriting import Check


def words(x: Check | CaptureVerdict, lang: Lang = "en") -> str:
    """The reason of a check (with its details) or of a capture verdict, in ``lang``."""
    if isinstance(x, Check):
        return render_check(x, lang)
    return render_message(x.message, x.params, lang)


def en(x: Check | CaptureVerdict) -> str:
    """The reason in English."""
    return words(x, "en")


def zh(x: Check | CaptureVerdict) -> str:
    """The reason in Simplified Chinese."""
    return words(x, "zh-CN")
