"""Lists one page at a time: the rows, the total count, and children fetched in one query."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Table, func, select

__all__ = ["Page", "grouped", "page_rows"]


@dataclass(frozen=True)
class Page:
    """One page of a list: the items, the total count, and where the page starts."""

    items: list[Any]
    total: int
    offset: int
    limit: int


def page_rows(
    conn: Connection,
    table: Table,
    where: ColumnElement[bool],
    order_by: Sequence[Any],
    offset: int,
    limit: int,
) -> tuple[list[Any], int]:
    """The rows of ``table`` matching ``where`` on one page, and how many match in all."""
    total = conn.execute(
        select(func.count()).select_from(table).where(where)
    ).scalar_one()
    rows = conn.execute(
        select(table).where(where).order_by(*order_by).offset(offset).limit(limit)
    ).all()
    return list(rows), int(total)


def grouped(
    conn: Connection, query: Select[Any], params: dict[str, Any] | None = None
) -> dict[Any, list[Any]]:
    """The second column of ``query``'s rows, grouped by the first (in row order).

    One query for the children of a whole page (plots of applications, animals
    of policies) instead of one per parent. ``params``: values of the query's
    bound parameters, for a statement built once.
    """
    out: dict[Any, list[Any]] = defaultdict(list)
    for key, value in conn.execute(query, params).all():
        out[key].append(value)
    return out
