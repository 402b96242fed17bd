"""The message catalogues: every reason the rules can give has words in both languages."""

from __future__ import annotations

import ast
import json
import re
from datetime import date
from pathlib import Path
from string import Formatter

import pytest

from claims import (
    check_earlier_claims,
    check_identity,
    check_measured_damage,
    check_photo_location,
    worst,
)
from server.i18n import (
    LANGS,
    catalogue,
    cli_lang,
    negotiate,
    render_check,
    render_message,
)
from underwriting import Check

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
KEY = re.compile(r"^[a-z_]+(\.[a-z_]+)+$|^(text|photos|plot_overlap|plot_geometry)$")


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(template) if name}


_MAKERS = {"Check", "CaptureVerdict", "Line", "red", "amber"}


def _keys_in_source() -> tuple[set[str], set[str]]:
    """Message keys the rules and services write: whole ones, and f-strings' fixed heads.

    Read from the arguments of ``Check(...)``, ``CaptureVerdict(...)``,
    ``Line(...)`` and the verdict helpers, from returned ``(message, params)``
    pairs and from module constants.
    """
    whole: set[str] = set()
    prefixes: set[str] = set()

    def take(node: ast.expr) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if KEY.match(node.value):
                whole.add(node.value)
        elif isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            if isinstance(head, ast.Constant) and isinstance(head.value, str):
                prefixes.add(head.value)
        elif isinstance(node, ast.IfExp):
            take(node.body)
            take(node.orelse)
        elif isinstance(node, ast.BinOp):
            take(node.left)

    for folder in ("claims", "underwriting", "server/services"):
        for path in (ROOT / folder).glob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                    if name in _MAKERS:
                        for arg in node.args[:3]:
                            take(arg)
                elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
                    take(node.value.elts[0])
            for stmt in tree.body:
                if isinstance(stmt, ast.Assign) and all(
                    isinstance(t, ast.Name) and t.id.isupper() for t in stmt.targets
                ):
                    take(stmt.value)
    return whole, prefixes


def test_both_catalogues_hold_the_same_keys_with_the_same_placeholders() -> None:
    en, zh = catalogue("en"), catalogue("zh-CN")
    sentences = {k for k in en if not k.startswith("value.")}
    assert sentences <= set(zh), sorted(sentences - set(zh))
    for key in sentences:
        if (
            key == "plot_geometry"
        ):  # English names the problem in words, Chinese by code
            assert _fields(zh[key]) == {"subject", "problem"}
            continue
        assert _fields(en[key]) == _fields(zh[key]), key
    # Chinese extras refine an English key (a geometry problem's own words).
    for key in set(zh) - set(en):
        assert key.startswith(("value.", "plot_geometry.")), key


def test_every_chinese_sentence_is_chinese() -> None:
    for key, text in catalogue("zh-CN").items():
        if key in ("text", "photos") or key.startswith("value.unit"):
            continue
        words = re.sub(r"\{[^}]*\}", "", text)
        assert CJK.search(words), f"{key}: {text}"


def test_every_key_the_rules_write_has_words() -> None:
    whole, prefixes = _keys_in_source()
    assert len(whole) > 60  # the scan finds the rules' keys at all
    known = set(catalogue("en"))
    missing = {k for k in whole if k not in known and k.split(".")[0] not in known}
    assert not missing, sorted(missing)
    for prefix in prefixes:  # a family, or a key that stands for its family
        assert prefix.rstrip(".") in known or any(
            k.startswith(prefix) for k in known
        ), prefix


@pytest.mark.parametrize(
    ("header", "lang"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN", "zh-CN"),
        ("zh", "zh-CN"),
        ("zh-Hans-CN;q=0.9, en;q=0.8", "zh-CN"),
        ("en-GB, zh-CN;q=0.5", "en"),
        ("en;q=0.5, zh-CN", "zh-CN"),
        ("fr-FR, de", "en"),
        ("zh-CN;q=0, en", "en"),
        ("zh;q=abc, en;q=0.1", "en"),
        (",,;;=,", "en"),
    ],
)
def test_accept_language_picks_the_readers_language(
    header: str | None, lang: str
) -> None:
    assert negotiate(header) == lang


def test_the_cli_speaks_the_locale() -> None:
    assert cli_lang({"LANG": "zh_CN.UTF-8"}) == "zh-CN"
    assert cli_lang({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}) == "en"
    assert cli_lang({"LANG": "C.UTF-8"}) == "en"
    assert cli_lang({}) == "en"


def test_a_summary_renders_its_details_in_the_readers_language() -> None:
    check = worst(
        "photo_location",
        [
            ("a.jpg", check_photo_location((40.0, 111.0), (40.5, 111.0), 5.0)),
            ("b.jpg", check_photo_location((40.0, 111.0), (40.0, 111.0), 5.0)),
        ],
    )
    assert [d.subject for d in check.details] == ["a.jpg"]
    assert (
        render_check(check, "en")
        == "a.jpg: taken 55.6 km from the site; the limit is 5 km"
    )
    assert (
        render_check(check, "zh-CN") == "a.jpg：拍摄地点距现场 55.6 公里，上限为 5 公里"
    )
    earlier = check_earlier_claims(
        [("C-1", "paid", date(2025, 4, 1)), ("C-2", "filed", None)]
    )
    assert render_check(earlier, "zh-CN") == (
        "已有理赔：理赔 C-1（已赔付，出险日 2025-04-01）；理赔 C-2（已报案，出险日 日期不详）"
    )


def test_a_reason_never_fails_to_render() -> None:
    # A key no catalogue knows, a param of another type than the template wants,
    # a record written before checks were data: words, not an error.
    assert render_message("nope.nothing", {"a": 1}, "zh-CN") == "nope.nothing (a=1)"
    odd = render_message("identity.match_photo", {"score": "high"}, "en", subject="T1")
    assert odd == "the photos match T1 (high, photo thresholds)"
    old = Check.from_json({"code": "notice", "light": "green", "reason": "on time"})
    assert render_check(old, "zh-CN") == "on time"
    fresh = check_identity("T1", 0.9, "T1", 0.9, False, 0.5, 0.8, basis="session")
    assert Check.from_json(fresh.to_json()) == fresh
    for lang in LANGS:
        assert "0.900" in render_check(fresh, lang)


def test_a_measure_that_is_not_a_number_is_kept_as_none_and_renders() -> None:
    # Imagery that cannot be read over a plot gives NaN for its clear share: the
    # check must still store, travel as JSON and read in both languages.
    nan = float("nan")
    check = check_measured_damage("raster_read_error", nan, nan, 0.5)
    assert (check.light, check.message) == ("amber", "measured_damage.unread")
    assert "field survey" in render_check(check, "en")
    odd = Check("x", "amber", "measured_damage.unmeasured", {"clear": nan, "s": "a"})
    assert odd.params == {"clear": None, "s": "a"}
    assert (
        json.loads(json.dumps(odd.to_json(), allow_nan=False))["params"]["clear"]
        is None
    )
    assert negotiate("zh;q=nan, en") == "en"
