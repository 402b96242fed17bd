"""Ear tags: ISO 11784 and China's national scheme."""

from __future__ import annotations

import pytest

from livestock import TagError, parse_tag


def test_iso11784_tags_from_the_sample_farm() -> None:
    tag = parse_tag("998230000006455")
    assert (tag.scheme, tag.value) == ("iso11784", "998230000006455")
    assert tag.parts == {"country": "998", "national_id": "230000006455"}
    assert parse_tag("276 0980 0123 4567").value == "276098001234567"


def test_chinese_tags_keep_their_scheme() -> None:
    tag = parse_tag("241101001234567", "cn")
    assert tag.scheme == "cn"
    assert tag.parts["species"] == "cattle"


@pytest.mark.parametrize(
    ("text", "scheme", "message"),
    [
        ("99823000000645", "iso11784", "14 digits, a iso11784 tag has 15"),
        ("9982300000064551", "iso11784", "16 digits"),
        ("99823000000645X", "iso11784", "only digits"),
        ("000230000006455", "iso11784", "country code 000"),
        ("941101001234567", "cn", "species code 9"),
        ("200001001234567", "cn", "names no province"),
        ("998230000006455", "eu", "tag scheme 'eu'"),
    ],
)
def test_bad_tags_name_the_problem(text: str, scheme: str, message: str) -> None:
    with pytest.raises(TagError, match=message):
        parse_tag(text, scheme)  # type: ignore[arg-type]
