"""The app's extensions, made here without an app so that every module can import them."""

from __future__ import annotations

import typing as t

from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import QueryPropertyDescriptor

from shop.flask_scoped_db import ScopedDB


class Base(DeclarativeBase):
    """The models' base class."""

    # ScopedDB sets Base.query; declaring it lets type checkers see Query[Customer].
    query: t.ClassVar[QueryPropertyDescriptor]


db = ScopedDB(model_class=Base)
