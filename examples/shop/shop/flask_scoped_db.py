# SPDX-License-Identifier: MIT
# Copyright (c) 2026 the flask_scoped_db authors. Keep this header in every copy.
"""One SQLAlchemy Session per Flask app context, in one file you can vendor.

Documentation, the test-transaction fixtures and the licence: see README.md in
the flask_scoped_db repository.
"""

from __future__ import annotations

import os
import typing as t
import weakref

from flask import Flask
from flask import current_app
from flask.globals import app_ctx
from sqlalchemy import Engine
from sqlalchemy import MetaData
from sqlalchemy import Select
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy.exc import MultipleResultsFound
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
from werkzeug.exceptions import NotFound

__version__ = "0.1.0"
__all__ = ["ScopedDB"]

_M = t.TypeVar("_M")

# The current AppContext object, or Flask's own "Working outside of application
# context." RuntimeError. It is the werkzeug LocalProxy's plain lookup function,
# bound once here because scoped_session calls it on every db.session access.
_current_app_context: t.Callable[[], object] = app_ctx._get_current_object  # type: ignore[attr-defined]


class ScopedDB:
    """SQLAlchemy engines and sessions for one or more Flask apps.

    :attr:`session` is a :class:`~sqlalchemy.orm.scoped_session` whose scope is
    the Flask app context: each context (a request, a CLI command, a ``with
    app.app_context()`` block, another thread's context) gets its own Session,
    which is closed when the context tears down.

    :param app: Call :meth:`init_app` on this app now.
    :param model_class: Your own :class:`~sqlalchemy.orm.DeclarativeBase`
        subclass to use as :attr:`Model`; by default a new one is made.
    :param session_options: Arguments for the
        :class:`~sqlalchemy.orm.sessionmaker` behind :attr:`session`.
    :param engine_options: Default arguments for
        :func:`~sqlalchemy.create_engine`, for every app; an app's
        ``SQLALCHEMY_ENGINE_OPTIONS`` win over these key by key.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        model_class: type[DeclarativeBase] | None = None,
        session_options: dict[str, t.Any] | None = None,
        engine_options: dict[str, t.Any] | None = None,
    ) -> None:
        self._engine_options = dict(engine_options or {})

        self.session: scoped_session[Session] = scoped_session(
            _AppSessionmaker(self, **(session_options or {})),
            scopefunc=_current_app_context,
        )
        """The Session of the current app context, proxied: use it like a
        :class:`~sqlalchemy.orm.Session` (``db.session.add(obj)``). The same
        Session for the whole context, a new one in the next."""

        # Weak keys: a context whose teardown never ran (another extension's
        # teardown raised first) takes its Session with it when it is garbage,
        # and that Session's connection goes back to the pool. A key is a live
        # context object, so unlike id(context) it can never be handed on.
        self.session.registry.registry = weakref.WeakKeyDictionary()

        if model_class is None:
            model_class = type("Model", (DeclarativeBase,), {"__module__": __name__})
        model_class.query = self.session.query_property()
        self.Model = model_class
        """The declarative base for your models, with ``Model.query``: a legacy
        :class:`~sqlalchemy.orm.Query` on :attr:`session`."""

        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Create ``app``'s engine from its config and remove each context's
        Session when that context tears down.

        Reads ``SQLALCHEMY_DATABASE_URI`` (required) and
        ``SQLALCHEMY_ENGINE_OPTIONS`` (optional). Call it once per app; one
        ScopedDB may serve several apps.

        :param app: The Flask app to register with.
        """
        if _EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                f"A ScopedDB is already initialised on app {app.name!r}. Call"
                " init_app(app) once per app, and share that one ScopedDB."
            )
        try:
            url = app.config["SQLALCHEMY_DATABASE_URI"]
        except KeyError:
            raise RuntimeError(
                "Set app.config['SQLALCHEMY_DATABASE_URI'] (for example"
                " 'sqlite:///app.db') before calling init_app(app)."
            ) from None
        options = {**self._engine_options, **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
        app.extensions[_EXTENSION_KEY] = _State(self, _make_engine(app, url, options))
        app.teardown_appcontext(self._remove_session)

    def _remove_session(self, exc: BaseException | None) -> None:
        self.session.remove()

    @property
    def engine(self) -> Engine:
        """The current app's :class:`~sqlalchemy.Engine`."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        state: _State | None = app.extensions.get(_EXTENSION_KEY)
        if state is None or state.db is not self:
            raise RuntimeError(f"This ScopedDB is not initialised on app {app.name!r}: did you forget init_app(app)?")
        return state.engine

    @property
    def metadata(self) -> MetaData:
        """The :class:`~sqlalchemy.MetaData` of :attr:`Model`'s tables."""
        return self.Model.metadata

    def create_all(self) -> None:
        """Create the tables of :attr:`metadata` that do not exist yet, on the
        current app's engine."""
        self.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        """Drop the tables of :attr:`metadata`, on the current app's engine."""
        self.metadata.drop_all(self.engine)

    def get_or_404(self, entity: type[_M], ident: t.Any, *, description: str | None = None) -> _M:
        """The ``entity`` row with primary key ``ident``, or a 404.

        :raises werkzeug.exceptions.NotFound: there is no such row.
        """
        row = self.session.get(entity, ident)
        if row is None:
            raise NotFound(description)
        return row

    def first_or_404(self, statement: Select[t.Any], *, description: str | None = None) -> t.Any:
        """The first column of the first row that ``statement`` selects
        (``select(User)`` gives a ``User``), or a 404.

        :raises werkzeug.exceptions.NotFound: there is no row.
        """
        row = self.session.execute(statement).scalar()
        if row is None:
            raise NotFound(description)
        return row

    def one_or_404(self, statement: Select[t.Any], *, description: str | None = None) -> t.Any:
        """The first column of the single row that ``statement`` selects, or a
        404 when it selects no row or more than one.

        :raises werkzeug.exceptions.NotFound: not exactly one row.
        """
        try:
            return self.session.execute(statement).scalar_one()
        except (NoResultFound, MultipleResultsFound):
            raise NotFound(description) from None


class _AppSessionmaker(sessionmaker[Session]):
    """A sessionmaker whose Sessions are bound to the current app's engine,
    unless a ``bind`` was configured (``db.session.configure(bind=...)``, as
    a test fixture does) or passed."""

    def __init__(self, db: ScopedDB, **kw: t.Any) -> None:
        super().__init__(**kw)
        self._db = db

    def __call__(self, **local_kw: t.Any) -> Session:
        if local_kw.get("bind") is None and self.kw["bind"] is None:
            local_kw["bind"] = self._db.engine
        return super().__call__(**local_kw)


class _State(t.NamedTuple):
    """What :meth:`ScopedDB.init_app` keeps in ``app.extensions``."""

    db: ScopedDB
    engine: Engine


_EXTENSION_KEY = "scoped_db"

# Every engine made here, so that a forked child can drop its parent's pooled
# connections (see _dispose_engines_in_child).
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _make_engine(app: Flask, url: str, options: dict[str, t.Any]) -> Engine:
    """Create an engine for ``url``, with defaults that suit a web app."""
    sa_url = make_url(url)
    backend = sa_url.get_backend_name()
    if backend == "sqlite" and sa_url.database in (None, "", ":memory:"):
        # Each pysqlite connection to :memory: is a database of its own: share
        # one connection between every session and thread, or the tables
        # created in one context are missing in the next.
        options.setdefault("poolclass", StaticPool)
        options["connect_args"] = {"check_same_thread": False, **options.get("connect_args", {})}
    elif backend == "sqlite" and not sa_url.query.get("uri"):
        assert sa_url.database is not None
        if not os.path.isabs(sa_url.database):
            os.makedirs(app.instance_path, exist_ok=True)
            sa_url = sa_url.set(database=os.path.join(app.instance_path, sa_url.database))
    elif backend in ("mysql", "mariadb"):
        # The server closes connections idle for wait_timeout (8 hours by
        # default); recycle them well before it does.
        options.setdefault("pool_recycle", 7200)
    engine = create_engine(sa_url, **options)
    _engines.add(engine)
    return engine


def _dispose_engines_in_child() -> None:
    # A forked child shares its parent's sockets. Start the child with empty
    # pools, but leave the sockets open for the parent: SQLAlchemy's
    # "Using Connection Pools with Multiprocessing or os.fork()".
    for engine in list(_engines):
        engine.dispose(close=False)


if hasattr(os, "register_at_fork"):  # pragma: no branch (False only on Windows, which cannot fork)
    os.register_at_fork(after_in_child=_dispose_engines_in_child)
