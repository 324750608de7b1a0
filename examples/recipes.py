"""Recipes for what flask_scoped_db leaves out: Flask-SQLAlchemy 3.1's table names, query methods
and pagination. README.md ("Recipes") explains them; copy what you need."""

from __future__ import annotations

import re
import typing as t
from math import ceil

from flask import abort
from flask import request
from sqlalchemy import Column
from sqlalchemy import MetaData
from sqlalchemy import PrimaryKeyConstraint
from sqlalchemy import Select
from sqlalchemy import Table
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import MultipleResultsFound
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import declared_attr
from sqlalchemy.orm import lazyload
from sqlalchemy.orm import query

from flask_scoped_db import ScopedDB

_T = t.TypeVar("_T")


# -- Table names as Flask-SQLAlchemy 3.1 generates them ------------------------------------------


class QueryProperty(t.Protocol):
    """What ``Model.query`` is to type checkers: a :class:`Query` of the model."""

    def __get__(self, instance: object, owner: type[_T]) -> Query[_T]: ...


class Base(DeclarativeBase):
    """A base whose models get Flask-SQLAlchemy 3.1's table names: ``HTTPResponse`` -> ``http_response``."""

    query: t.ClassVar[QueryProperty]

    def __init_subclass__(cls, **kwargs: t.Any) -> None:
        if _generates_tablename(cls):
            cls.__tablename__ = (
                re.sub(r"((?<=[a-z0-9])[A-Z]|(?!^)[A-Z](?=[a-z]))", r"_\1", cls.__name__).lower().lstrip("_")
            )
        super().__init_subclass__(**kwargs)
        if "__tablename__" not in cls.__dict__ and cls.__dict__.get("__table__", ...) is None:
            del cls.__table__  # single-table inheritance: use the parent's table

    @classmethod
    def __table_cls__(cls, name: str, metadata: MetaData, *args: t.Any, **kwargs: t.Any) -> Table | None:
        key = name if kwargs.get("schema") is None else f"{kwargs['schema']}.{name}"
        has_key = any((isinstance(a, Column) and a.primary_key) or isinstance(a, PrimaryKeyConstraint) for a in args)
        if key in metadata.tables or has_key or not any("__table__" in b.__dict__ for b in cls.__mro__[1:-1]):
            return Table(name, metadata, *args, **kwargs)
        # A subclass of a model that declares no primary key shares its parent's table.
        if "__tablename__" in cls.__dict__:
            del cls.__tablename__
        return None


def _generates_tablename(cls: type) -> bool:
    """A name is made unless the model is abstract, or it, an abstract base or a mixin names it."""
    if cls.__dict__.get("__abstract__", False):
        return False
    for base in cls.__mro__:
        if "__tablename__" in base.__dict__:
            named_here = (
                base is cls or base.__dict__.get("__abstract__", False) or not issubclass(base, DeclarativeBase)
            )
            return not (named_here or isinstance(base.__dict__["__tablename__"], declared_attr))
    return True


# -- Query methods and pagination -----------------------------------------------------------------


class Query(query.Query[_T]):
    """Flask-SQLAlchemy 3.1's ``Query``: ``get_or_404``, ``first_or_404``, ``one_or_404`` and ``paginate``."""

    def get_or_404(self, ident: t.Any, description: str | None = None) -> _T:
        """The row with primary key ``ident``, or a 404."""
        row = self.session.get(t.cast("type[_T]", self.column_descriptions[0]["entity"]), ident)
        if row is None:
            abort(404, description=description)
        return row

    def first_or_404(self, description: str | None = None) -> _T:
        """The first row, or a 404."""
        row = self.first()
        if row is None:
            abort(404, description=description)
        return row

    def one_or_404(self, description: str | None = None) -> _T:
        """The only row, or a 404 when there are none or several."""
        try:
            return self.one()
        except (NoResultFound, MultipleResultsFound):
            abort(404, description=description)

    def paginate(
        self,
        *,
        page: int | None = None,
        per_page: int | None = None,
        max_per_page: int | None = None,
        error_out: bool = True,
        count: bool = True,
    ) -> Pagination:
        """One page of this query's rows; see :class:`Pagination`."""
        return Pagination(
            lambda limit, offset: self.limit(limit).offset(offset).all(),
            lambda: self.order_by(None).count(),
            page=page,
            per_page=per_page,
            max_per_page=max_per_page,
            error_out=error_out,
            count=count,
        )


db = ScopedDB(model_class=Base, session_options={"query_cls": Query})


def paginate(
    select: Select[t.Any],
    *,
    page: int | None = None,
    per_page: int | None = None,
    max_per_page: int | None = None,
    error_out: bool = True,
    count: bool = True,
) -> Pagination:
    """Flask-SQLAlchemy 3.1's ``db.paginate(select(User))``: one page of the first column's values."""

    def items(limit: int, offset: int) -> list[t.Any]:
        return list(db.session.execute(select.limit(limit).offset(offset)).unique().scalars())

    def total() -> int:
        rows = select.options(lazyload("*")).order_by(None).subquery()
        return db.session.execute(sa_select(func.count()).select_from(rows)).scalar_one()

    return Pagination(
        items, total, page=page, per_page=per_page, max_per_page=max_per_page, error_out=error_out, count=count
    )


class Pagination:
    """One page of items, with Flask-SQLAlchemy 3.1's ``Pagination`` attributes and rules.

    ``page`` and ``per_page`` default to the request's ``?page=`` and ``?per_page=`` (1 and 20
    outside a request); ``per_page`` is capped at ``max_per_page``. With ``error_out``, a page or
    per_page below 1 or not a number, or an empty page other than the first, is a 404; without
    it they fall back to 1 and 20. ``count=False`` skips the count query: ``total`` is None.
    """

    def __init__(
        self,
        items: t.Callable[[int, int], list[t.Any]],
        total: t.Callable[[], int],
        *,
        page: int | None = None,
        per_page: int | None = None,
        max_per_page: int | None = 100,
        error_out: bool = True,
        count: bool = True,
    ) -> None:
        self._query = (items, total)
        self.page, self.per_page = _page_args(page, per_page, max_per_page, error_out)
        self.max_per_page = max_per_page
        self.items = items(self.per_page, (self.page - 1) * self.per_page)
        if not self.items and self.page != 1 and error_out:
            abort(404)
        self.total: int | None = total() if count else None

    @property
    def first(self) -> int:
        """The number of the page's first item, from 1; 0 on an empty page."""
        return (self.page - 1) * self.per_page + 1 if self.items else 0

    @property
    def last(self) -> int:
        """The number of the page's last item, from 1; 0 on an empty page."""
        return max(self.first, self.first + len(self.items) - 1)

    @property
    def pages(self) -> int:
        """The number of pages; 0 without items or without a count."""
        return ceil(self.total / self.per_page) if self.total else 0

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None

    def prev(self, *, error_out: bool = False) -> Pagination:
        """The previous page (like Flask-SQLAlchemy's, with the default ``max_per_page``)."""
        return self._turn(self.page - 1, 100, error_out)

    def next(self, *, error_out: bool = False) -> Pagination:
        """The next page."""
        return self._turn(self.page + 1, self.max_per_page, error_out)

    def _turn(self, page: int, max_per_page: int | None, error_out: bool) -> Pagination:
        turned = Pagination(
            *self._query, page=page, per_page=self.per_page, max_per_page=max_per_page, error_out=error_out, count=False
        )
        turned.total = self.total
        return turned

    def iter_pages(
        self, *, left_edge: int = 2, left_current: int = 2, right_current: int = 4, right_edge: int = 2
    ) -> t.Iterator[int | None]:
        """Page numbers for a pagination widget, ``None`` for each gap: with 20 pages, on page 7,
        ``1, 2, None, 5, 6, 7, 8, 9, 10, 11, None, 19, 20``."""
        # Flask-SQLAlchemy 3.1's arithmetic, quirks included, so that templates render the same.
        end = self.pages + 1
        left_end = min(1 + left_edge, end)
        mid_start, mid_end = max(left_end, self.page - left_current), min(self.page + right_current + 1, end)
        right_start = max(mid_end, end - right_edge)
        if end == 1:
            return
        yield from range(1, left_end)
        if left_end == end:
            return
        if mid_start > left_end:
            yield None
        yield from range(mid_start, mid_end)
        if mid_end == end:
            return
        if right_start > mid_end:
            yield None
        yield from range(right_start, end)

    def __iter__(self) -> t.Iterator[t.Any]:
        return iter(self.items)


def _page_args(page: int | None, per_page: int | None, max_per_page: int | None, error_out: bool) -> tuple[int, int]:
    if page is None:
        page = _request_arg("page", 1, error_out)
    if per_page is None:
        per_page = _request_arg("per_page", 20, error_out)
    if max_per_page is not None:
        per_page = min(per_page, max_per_page)
    if error_out and (page < 1 or per_page < 1):
        abort(404)
    return max(page, 1), (per_page if per_page >= 1 else 20)


def _request_arg(name: str, default: int, error_out: bool) -> int:
    if not request:
        return default
    try:
        return int(request.args.get(name, default))
    except (TypeError, ValueError):
        if error_out:
            abort(404)
        return default
