"""A second database beside ScopedDB's: its models on a base of their own, routed to an engine
of their own by the Session (README: "A second database")."""

from __future__ import annotations

import typing as t

from flask import Flask
from flask import current_app
from sqlalchemy import Engine
from sqlalchemy import String
from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Mapper
from sqlalchemy.orm import QueryPropertyDescriptor
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column

from flask_scoped_db import ScopedDB


class Base(DeclarativeBase):
    """The base of the models in SQLALCHEMY_DATABASE_URI."""

    query: t.ClassVar[QueryPropertyDescriptor]


class AuditBase(DeclarativeBase):
    """The base of the models in AUDIT_DATABASE_URI."""

    query: t.ClassVar[QueryPropertyDescriptor]


class RoutingSession(Session):
    """Sends AuditBase's models to the current app's audit engine, all else to ``db.engine``."""

    def get_bind(self, mapper: t.Any = None, **kw: t.Any) -> t.Any:
        if isinstance(mapper, Mapper) and issubclass(mapper.class_, AuditBase):
            return audit_engine()
        return super().get_bind(mapper, **kw)


db = ScopedDB(model_class=Base, session_options={"class_": RoutingSession})
AuditBase.query = db.session.query_property()


def init_audit(app: Flask) -> None:
    """Create ``app``'s engine for AUDIT_DATABASE_URI; call it beside ``db.init_app(app)``."""
    app.extensions["audit_engine"] = create_engine(app.config["AUDIT_DATABASE_URI"])


def audit_engine() -> Engine:
    """The current app's engine for AUDIT_DATABASE_URI."""
    engine: Engine = current_app.extensions["audit_engine"]
    return engine


class User(Base):
    """A model in the main database."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))


class AuditEntry(AuditBase):
    """A model in the audit database."""

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str] = mapped_column(String(200))
