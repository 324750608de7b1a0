# SPDX-License-Identifier: MIT
# Copyright (c) 2026 the flask_scoped_db authors. Keep this header in every copy.
"""One SQLAlchemy Session per Flask app context, in one file you can vendor.

Documentation, the test-transaction fixtures and the licence: see README.md in
the flask_scoped_db repository.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import typing as t
import weakref

from flask import Flask
from flask import current_app
from flask.globals import app_ctx
from sqlalchemy import URL
from sqlalchemy import Engine
from sqlalchemy import MetaData
from sqlalchemy import Select
from sqlalchemy import create_engine
from sqlalchemy import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import MultipleResultsFound
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.util import ScopedRegistry
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
        subclass to use as :attr:`Model`; by default a new one is made. A
        model_class serves one ScopedDB: a second one on it raises
        RuntimeError, since it would take over ``model_class.query``.
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
        if model_class is not None and model_class in _model_classes:
            raise RuntimeError(
                f"{model_class.__name__} is already the model_class of another ScopedDB, whose"
                f" {model_class.__name__}.query this one would take over. Make one ScopedDB per"
                " model_class and share it: one ScopedDB serves several apps."
            )
        self._engine_options = dict(engine_options or {})

        self.session: scoped_session[Session] = scoped_session(
            _AppSessionmaker(self, **(session_options or {})),
            scopefunc=_current_app_context,
        )
        """The Session of the current app context, proxied: use it like a
        :class:`~sqlalchemy.orm.Session` (``db.session.add(obj)``). The same
        Session for the whole context, a new one in the next."""
        self._registry = _ContextRegistry(self.session.session_factory)
        self.session.registry = self._registry

        if model_class is None:
            model_class = type("Model", (DeclarativeBase,), {"__module__": __name__})
        model_class.query = self.session.query_property()
        _model_classes.add(model_class)
        self.Model = model_class
        """The declarative base for your models, with ``Model.query``: a legacy
        :class:`~sqlalchemy.orm.Query` on :attr:`session`."""

        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Create ``app``'s engine from its config and remove each context's
        Session when that context tears down.

        Reads ``SQLALCHEMY_DATABASE_URI`` (required), ``SQLALCHEMY_ENGINE_OPTIONS``
        and ``SQLALCHEMY_ECHO`` (optional), and refuses ``SQLALCHEMY_BINDS``.
        Call it once per app; one ScopedDB may serve several apps. All or
        nothing: when it raises, ``app`` and this ScopedDB are as they were.

        :param app: The Flask app to register with.
        :raises RuntimeError: the app already has a ScopedDB, or its config is
            wrong (the message names the key and the fix).
        """
        if _EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                f"A ScopedDB is already initialised on app {app.name!r}. Call"
                " init_app(app) once per app, and share that one ScopedDB."
            )
        # Each step that can fail comes before the first one that stores
        # anything: Flask refuses teardown_appcontext after the app's first
        # request, and the engine it would leave behind has no connections yet.
        engine = _make_engine(app, self._engine_options)
        app.teardown_appcontext(self._remove_session)
        app.extensions[_EXTENSION_KEY] = _State(self, engine)

    def _remove_session(self, exc: BaseException | None) -> None:
        self._registry.close_and_forget()

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


class _ContextRegistry(ScopedRegistry[Session]):
    """``db.session``'s registry: one Session per app context.

    Keys are ``id(context)``, so the registry never keeps a context alive.
    Teardown removes the entry (and with it the weak reference, whose callback
    then never runs). A context freed with its entry still there (its teardown
    was skipped, or a later teardown made a new Session) closes that Session at
    once from the callback: a Session is in reference cycles of its own, so
    only the cyclic garbage collector would free it otherwise. A context's id
    is not reused before the callback has removed its entry.
    """

    # id(context): (its Session, a weak reference to it whose callback closes that Session)
    registry: dict[int, tuple[Session, weakref.ref[object]]]

    def __init__(self, createfunc: t.Callable[[], Session]) -> None:
        super().__init__(createfunc, _current_app_context)
        _registries.add(self)

    def __call__(self) -> Session:
        context = _current_app_context()
        try:
            return self.registry[id(context)][0]
        except KeyError:
            session = self.createfunc()
            self._set(context, session)
            return session

    def has(self) -> bool:
        return id(_current_app_context()) in self.registry

    def set(self, obj: Session) -> None:
        self._set(_current_app_context(), obj)

    def clear(self) -> None:
        self.registry.pop(id(_current_app_context()), None)

    def close_and_forget(self) -> None:
        """``scoped_session.remove()`` with one lookup of the context instead of
        three: the teardown's, on every request."""
        key = id(_current_app_context())
        entry = self.registry.get(key)
        if entry is not None:
            entry[0].close()
            del self.registry[key]

    def _set(self, context: object, session: Session) -> None:
        key = id(context)
        self.registry[key] = (session, weakref.ref(context, functools.partial(self._context_freed, key)))

    def _context_freed(self, key: int, ref: weakref.ref[object]) -> None:
        self.registry.pop(key)[0].close()


_EXTENSION_KEY = "scoped_db"

# Each model_class given to a ScopedDB: a second ScopedDB would take over its query.
_model_classes: weakref.WeakSet[type] = weakref.WeakSet()

# Every engine and registry made here, for _forget_the_parents_connections.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
_registries: weakref.WeakSet[_ContextRegistry] = weakref.WeakSet()


def _database_url(app: Flask) -> URL:
    """``app.config['SQLALCHEMY_DATABASE_URI']``, parsed."""
    url = app.config.get("SQLALCHEMY_DATABASE_URI")
    if url is None:
        raise RuntimeError(
            "Set app.config['SQLALCHEMY_DATABASE_URI'] (for example 'sqlite:///app.db') before"
            " calling init_app(app); it is missing or None (an unset environment variable?)."
        )
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        shown = re.sub(r"(://[^:/@]*:).*@", r"\1***@", str(url))
        raise RuntimeError(
            f"app.config['SQLALCHEMY_DATABASE_URI'] is not a database URL: {shown!r}. Write it as"
            " dialect+driver://user:password@host/database, for example 'sqlite:///app.db'."
        ) from None


def _make_engine(app: Flask, defaults: dict[str, t.Any]) -> Engine:
    """Create ``app``'s engine from its config, with defaults that suit a web app."""
    url = _database_url(app)
    config_options = app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})
    if not isinstance(config_options, dict):
        raise RuntimeError(  # noqa: TRY004 (a misconfiguration, as every other one here)
            "app.config['SQLALCHEMY_ENGINE_OPTIONS'] must be a dict of create_engine() arguments,"
            f" not {type(config_options).__name__}: leave it out when there are none."
        )
    if app.config.get("SQLALCHEMY_BINDS"):
        raise RuntimeError(
            "app.config['SQLALCHEMY_BINDS'] is not supported: a ScopedDB serves one database per"
            " app. Remove it, and route a second database's models as the README shows (Recipes,"
            " 'A second database')."
        )
    options = {**defaults, **config_options}
    # As in Flask-SQLAlchemy: SQLALCHEMY_ECHO sets both, explicit options win.
    echo = app.config.get("SQLALCHEMY_ECHO", False)
    options.setdefault("echo", echo)
    options.setdefault("echo_pool", echo)
    backend = url.get_backend_name()
    if backend == "sqlite" and _is_sqlite_memory(url):
        # Each connection to an in-memory database is a database of its own
        # (or, shared by name, one that goes with its last connection): share
        # one connection between every session and thread, or the tables
        # created in one context are missing in the next.
        options.setdefault("poolclass", StaticPool)
        options["connect_args"] = {"check_same_thread": False, **options.get("connect_args", {})}
    elif backend == "sqlite" and not url.query.get("uri"):
        assert url.database is not None
        if not os.path.isabs(url.database):
            os.makedirs(app.instance_path, exist_ok=True)
            url = url.set(database=os.path.join(app.instance_path, url.database))
    elif backend in ("mysql", "mariadb"):
        # The server closes connections idle for wait_timeout (8 hours by
        # default); recycle them well before it does.
        options.setdefault("pool_recycle", 7200)
    engine = create_engine(url, **options)
    _engines.add(engine)
    return engine


def _is_sqlite_memory(url: URL) -> bool:
    """Whether an SQLite URL names an in-memory database: no file, ``:memory:``,
    ``mode=memory`` (as SQLAlchemy's own pool choice reads it) or the URI
    filename ``file::memory:``."""
    database = url.database or ""
    return (
        database in ("", ":memory:")
        or url.query.get("mode") == "memory"
        or (bool(url.query.get("uri")) and database.startswith("file::memory:"))
    )


def _forget_the_parents_connections() -> None:
    # A forked child shares its parent's sockets and SQLite files: whatever it
    # sends on them (a ROLLBACK from a Session's close or a connection's
    # finalizer, psycopg's Terminate message, SQLite rolling back a journal)
    # breaks the parent's work. So the child forgets every Session it
    # inherited and every pool, without closing them, and keeps them from
    # ever being finalized, even at exit: SQLAlchemy's "Using Connection Pools
    # with Multiprocessing or os.fork()", taken to Sessions.
    for registry in list(_registries):
        for session, _ in registry.registry.values():
            _keep_forever(session)
        registry.registry.clear()
    for engine in list(_engines):
        _keep_forever(engine.pool)
        engine.dispose(close=False)


def _keep_forever(obj: object) -> None:
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


if hasattr(os, "register_at_fork"):  # pragma: no branch (False only on Windows, which cannot fork)
    os.register_at_fork(after_in_child=_forget_the_parents_connections)
