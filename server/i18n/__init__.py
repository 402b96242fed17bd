"""Words in the reader's language: the message catalogues and their rendering.

The rules (``claims``, ``underwriting``) give a check's reason as data, a
message key and its params (:class:`underwriting.Check`), and an indemnity
line as a key and a value (:class:`claims.Line`); this module turns them into
a sentence in Simplified Chinese (``zh-CN``) or English (``en``), at the
edge: the API by ``Accept-Language``, the CLI by the locale of its shell.
The pages send their own language switch as ``Accept-Language``.

A catalogue is a flat JSON object in this folder (``en.json``,
``zh-CN.json``), one template per key in :meth:`str.format` syntax over the
params (``{km:.1f}``), plus ``subject`` (the check's plot, animal or photo)
and ``details`` (a summary's per-item checks, each rendered as ``subject:
reason`` unless its template names the subject itself). A key
``value.PARAM.VALUE`` translates a param's code value (a claim status, a unit).
A key missing in Chinese falls back to English; a key ``a.b`` missing in both
falls back to ``a``; records written before checks were data render their
stored words (``text``).

May import the domain packages (for their value types) only; every layer of
``server`` may import it.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from string import Formatter
from typing import Any, Literal

from claims import Line
from underwriting import Check, Param

__all__ = [
    "LANGS",
    "Lang",
    "catalogue",
    "cli_lang",
    "negotiate",
    "render_check",
    "render_ground",
    "render_line",
    "render_message",
]

Lang = Literal["en", "zh-CN"]
LANGS: tuple[Lang, ...] = ("en", "zh-CN")
_HERE = Path(__file__).resolve().parent
_SEPARATOR = {"en": "; ", "zh-CN": "\uff1b"}  # fullwidth semicolon
_COLON = {"en": ": ", "zh-CN": "\uff1a"}  # fullwidth colon
_SPEC = re.compile(r"\{(\w+)(?:![rsa])?(?::[^{}]*)?\}")


@cache
def catalogue(lang: Lang) -> Mapping[str, str]:
    """The templates of ``lang``, by key (read once)."""
    doc = json.loads((_HERE / f"{lang}.json").read_text(encoding="utf-8"))
    if not isinstance(doc, dict):  # pragma: no cover - a broken package
        raise ValueError(f"{lang}.json is not a JSON object")
    return doc


def negotiate(accept_language: str | None) -> Lang:
    """The language of an ``Accept-Language`` header: Chinese if preferred first, else English.

    Weights are honoured (``en;q=0.5, zh-CN`` is Chinese); any ``zh``
    variant reads Simplified Chinese; no header, or nothing either
    catalogue speaks, is English.
    """
    best: tuple[float, Lang] | None = None
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, rest = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        for option in rest.split(";"):
            name, _, value = option.strip().partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
                if not math.isfinite(q):
                    q = 0.0
        lang: Lang | None = (
            "zh-CN"
            if tag == "zh" or tag.startswith("zh-")
            else "en"
            if tag == "en" or tag.startswith("en-")
            else None
        )
        if lang is None or q <= 0:
            continue
        # Higher weight wins; at equal weight, the earlier entry (a tiny bias).
        score = (q - i * 1e-6, lang)
        if best is None or score[0] > best[0]:
            best = score
    return best[1] if best else "en"


def cli_lang(environ: Mapping[str, str] | None = None) -> Lang:
    """The CLI's language from the locale (``LC_ALL``, ``LC_MESSAGES``, ``LANG``; zh*: Chinese)."""
    env = os.environ if environ is None else environ
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if value:
            return "zh-CN" if value.lower().startswith("zh") else "en"
    return "en"


def _lookup(key: str, lang: Lang) -> str | None:
    """The words of ``key`` in ``lang``, else in English, else None."""
    return catalogue(lang).get(key) or catalogue("en").get(key)


def _template(key: str, lang: Lang) -> str | None:
    """The template of ``key``, or of its family (``a.b`` falls back to ``a``)."""
    while (text := _lookup(key, lang)) is None and "." in key:
        key = key.rsplit(".", 1)[0]
    return text


class _Values(dict[str, Any]):
    """Params for :meth:`str.format_map`: a missing name renders as itself."""

    def __missing__(self, name: str) -> str:
        return "{" + name + "}"


def _value(name: str, value: Param, lang: Lang) -> Any:
    """A param as the reader sees it: a code value in words (``value.NAME.VALUE``)."""
    if isinstance(value, bool) or not isinstance(value, (str, type(None))):
        return value
    words = _lookup(f"value.{name}.{'null' if value is None else value}", lang)
    if words is not None:
        return words
    return "" if value is None else value


def render_message(
    key: str,
    params: Mapping[str, Param],
    lang: Lang,
    *,
    subject: str | None = None,
    details: str | None = None,
) -> str:
    """The sentence of message ``key`` with ``params`` in ``lang``.

    A key no catalogue knows renders as the key followed by its params,
    never as an error: a reader sees something and a test can catch it.
    """
    template = _template(key, lang)
    values = _Values({n: _value(n, v, lang) for n, v in params.items()})
    values["subject"] = subject if subject is not None else ""
    values["details"] = details if details is not None else ""
    if template is None:
        shown = ", ".join(f"{n}={v}" for n, v in params.items())
        return f"{key} ({shown})" if shown else key
    try:
        return Formatter().vformat(template, (), values)
    except (ValueError, TypeError):
        # A param of another type than the template's format expects (a
        # record of an older version): show the values without the formats.
        plain = _SPEC.sub(r"{\1}", template)
        return plain.format_map(_Values({n: str(v) for n, v in values.items()}))


def render_check(check: Check, lang: Lang) -> str:
    """A check's reason in ``lang``, with its details (``subject: reason``, joined)."""
    details = None
    if check.details:
        details = _SEPARATOR[lang].join(
            (
                f"{d.subject}{_COLON[lang]}{render_check(d, lang)}"
                if d.subject and "{subject}" not in (_template(d.message, lang) or "")
                else render_check(d, lang)
            )
            for d in check.details
        )
    return render_message(
        check.message, check.params, lang, subject=check.subject, details=details
    )


def render_line(line: Line, lang: Lang) -> tuple[str, str]:
    """An indemnity line as (label in ``lang``, value); a label stored as words stays as is."""
    if _template(line.key, lang) is None or not line.key.startswith("indemnity."):
        return line.key, line.value
    return render_message(line.key, line.params, lang), line.value


def render_ground(code: str, lang: Lang) -> str:
    """A decision's ground (a check's code) as its reader is told it, in ``lang``."""
    return _lookup(f"grounds.{code}", lang) or code
