# SPDX-License-Identifier: MIT
# Copyright (c) 2026 the flask_scoped_db authors. Keep this header in every copy.
"""One SQLAlchemy Session per Flask app context, in one file you can vendor.

The runtime part (``ScopedDB``) comes first; the test part (``TestConnection``:
every test inside one transaction that is rolled back, for any test runner)
follows under its own heading. Documentation, the worked-example conftest.py
and the licence: see README.md in the flask_scoped_db repository.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import itertools
import mmap
import os
import re
import sqlite3
import threading
import typing as t
import weakref
from contextvars import ContextVar
from contextvars import Token
from pathlib import Path

import flask.ctx
import flask.globals
from flask import Flask
from flask.ctx import AppContext
from flask.globals import app_ctx
from sqlalchemy import URL
from sqlalchemy import Connection
from sqlalchemy import Engine
from sqlalchemy import MetaData
from sqlalchemy import NestedTransaction
from sqlalchemy import RootTransaction
from sqlalchemy import Select
from sqlalchemy import Table
from sqlalchemy import Transaction
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import exists
from sqlalchemy import inspect
from sqlalchemy import make_url
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import ArgumentError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import MultipleResultsFound
from sqlalchemy.exc import NoResultFound
from sqlalchemy.exc import NoSuchModuleError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Session
from sqlalchemy.orm import make_transient
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.pool import NullPool
from sqlalchemy.pool import Pool
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import sort_tables_and_constraints
from sqlalchemy.util import ScopedRegistry
from werkzeug.exceptions import NotFound

__version__ = "0.4.0"
__all__ = [
    "ScopedDB",
    "SharedData",
    "TestConnection",
    "TestDatabase",
    "TestFailure",
    "TestSetupError",
    "check_version",
]

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
        self._apps: weakref.WeakSet[Flask] = weakref.WeakSet()  # for a TestConnection to take over

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
        and ``SQLALCHEMY_ECHO`` (optional); refuses ``SQLALCHEMY_BINDS``, and
        Flask-SQLAlchemy 2's pool and commit-on-teardown settings.
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
        self._apps.add(app)

    def _remove_session(self, exc: BaseException | None) -> None:
        self._registry.close_and_forget()

    @property
    def engine(self) -> Engine:
        """The current app's :class:`~sqlalchemy.Engine`."""
        app = t.cast(AppContext, self._registry.scopefunc()).app
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

    def test_connection(self, app: Flask, *, create_tables: bool = True) -> TestConnection:
        """Take over ``app``'s engine for a test run: see :class:`TestConnection`.

        :param app: The app under test, initialised with this ScopedDB.
        :param create_tables: Create :attr:`metadata`'s tables now, and drop
            them when the run's connection closes.
        """
        return TestConnection(self, app, create_tables=create_tables)


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
    is not reused before the callback has removed its entry. ``scopefunc``
    finds the context (and ``ScopedDB.engine`` through it): a TestConnection
    replaces it for its run, to say why there is none between tests.
    """

    # id(context): (its Session, a weak reference to it whose callback closes that Session)
    registry: dict[int, tuple[Session, weakref.ref[object]]]

    def __init__(self, createfunc: t.Callable[[], Session]) -> None:
        super().__init__(createfunc, _current_app_context)
        _registries.add(self)

    def __call__(self) -> Session:
        context = self.scopefunc()
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


# What Flask-SQLAlchemy 3 dropped of 2's settings, which an app moving from 2.x would lose without a word.
_FLASK_SQLALCHEMY_2_KEYS = {
    "SQLALCHEMY_POOL_SIZE": "SQLALCHEMY_ENGINE_OPTIONS['pool_size']",
    "SQLALCHEMY_POOL_TIMEOUT": "SQLALCHEMY_ENGINE_OPTIONS['pool_timeout']",
    "SQLALCHEMY_POOL_RECYCLE": "SQLALCHEMY_ENGINE_OPTIONS['pool_recycle']",
    "SQLALCHEMY_MAX_OVERFLOW": "SQLALCHEMY_ENGINE_OPTIONS['max_overflow']",
    "SQLALCHEMY_COMMIT_ON_TEARDOWN": "db.session.commit() where the view's work is done",
}


def _database_url(app: Flask) -> URL:
    """``app.config['SQLALCHEMY_DATABASE_URI']``, parsed."""
    url = app.config.get("SQLALCHEMY_DATABASE_URI")
    if url is None:
        raise RuntimeError(
            "Set app.config['SQLALCHEMY_DATABASE_URI'] (for example 'sqlite:///app.db') before"
            " calling init_app(app); it is missing or None (an unset environment variable?)."
        )
    return _parsed(url, "app.config['SQLALCHEMY_DATABASE_URI']", RuntimeError)


def _parsed(url: t.Any, key: str, error: type[Exception]) -> URL:
    """``url``, parsed; or ``error``, naming ``key`` and ``url`` masked."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise error(
            f"{key} is not a database URL: {_masked(url)!r}. Write it as"
            " dialect+driver://user:password@host/database, for example 'sqlite:///app.db'."
        ) from None


def _masked(url: object) -> str:
    """``url`` as text for a message: whatever stands before its last ``@``
    but the scheme and user name (all of it, without ``://``) could be a
    password, and is shown as ``***``."""
    return re.sub(r"^(?:([\w+.-]+://[^:/@]*)(:)?)?.*@", lambda m: f"{m[1] or '***'}{m[2] and ':***' or ''}@", str(url))


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
    for key, instead in _FLASK_SQLALCHEMY_2_KEYS.items():
        if (value := app.config.get(key)) is not None and value is not False:
            raise RuntimeError(
                f"app.config[{key!r}] is a setting of Flask-SQLAlchemy 2 that ScopedDB does not read: use"
                f" {instead} instead (README, 'From Flask-SQLAlchemy 2.x')."
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
        # created in one context are missing in the next. One connection is
        # one transaction: _MemoryPool lends it to one context at a time.
        options.setdefault("poolclass", _MemoryPool)
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


class _MemoryPool(StaticPool):
    """The one connection of an in-memory SQLite database, lent to one
    context at a time so that concurrent requests never share a transaction:
    a checkout elsewhere waits until it is back, up to ``pool_timeout``.

    Checkouts in the context that holds it (``db.session`` and ``db.engine``
    in one request, a nested app context, an async view that asgiref runs in
    another thread on a copy of the context) share its checkout, as
    SQLAlchemy's SingletonThreadPool shares a thread's: a request never waits
    for itself, and one checkin gives it back however the checkouts nest.
    """

    def __init__(self, creator: t.Any, timeout: float = 30, **kw: t.Any) -> None:
        super().__init__(creator, **kw)
        self.timeout = timeout
        self._free = threading.Lock()  # not an RLock: a garbage-collected connection is checked in from any thread
        # A weak reference to the context's checkout: a _ConnectionFairy, whose _checkout_existing() is private.
        self._lent: ContextVar[t.Callable[[], t.Any]] = ContextVar("lent", default=lambda: None)

    def connect(self) -> PoolProxiedConnection:
        lent = self._lent.get()()
        if lent is not None and lent.is_valid:
            return lent._checkout_existing()  # type: ignore[no-any-return]  # as SingletonThreadPool.connect does
        connection = super().connect()
        self._lent.set(weakref.ref(connection))
        return connection

    def recreate(self) -> _MemoryPool:
        pool = t.cast(_MemoryPool, super().recreate())  # StaticPool.recreate() (dispose, forks) drops it
        pool.timeout = self.timeout
        return pool

    def _do_get(self) -> ConnectionPoolEntry:
        # Here, before the connection is handed out, and not in a "checkout"
        # event: from there every way back (the invalidation that follows an
        # error, the ROLLBACK of a checkin) would act on the holder's transaction.
        if not self._free.acquire(timeout=self.timeout):
            raise PoolTimeoutError(
                f"Waited {self.timeout}s for the in-memory SQLite database's one connection, which another thread"
                " holds (a Session or Connection left open?): close what holds it, run `flask run --without-threads`,"
                " or use a file database. SQLALCHEMY_ENGINE_OPTIONS['pool_timeout'] sets the wait."
            )
        try:
            return super()._do_get()  # connects the first time
        except BaseException:  # nothing was checked out, so nothing will be checked in
            self._free.release()
            raise

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        self._free.release()


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


# -----------------------------------------------------------------------------
# The test part: every test inside one transaction that is rolled back.
#
# Nothing above uses it but ScopedDB.test_connection(). It is runner-neutral: conftest.py (pytest) and
# examples/test_todo_unittest.py (unittest) are its two faces. README.md,
# "Testing" and "How the test part works", explain it.
# -----------------------------------------------------------------------------


class TestFailure(AssertionError):
    """What the code under test did that a rolled-back test cannot undo or
    allow, found when its transaction ended: one problem per line, also in
    :attr:`problems`. The next test starts clean all the same."""

    __test__ = False  # not a test class, wherever it is imported

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class TestSetupError(Exception):
    """A mistake in the test database's URL, its server or its driver: the
    message says what is wrong and what to do. conftest.py turns it into
    pytest's usage error (exit code 4)."""

    __test__ = False


class TestConnection(contextlib.AbstractContextManager["TestConnection"]):
    """The one Connection every test of a run works on, and the app's engine
    taken over for the run. Make it with :meth:`ScopedDB.test_connection`; use
    it as a context manager (or call :meth:`close`), and run each test inside
    :meth:`transaction`.

    For as long as it is open:

    - ``db.engine`` hands out the test's own connection, inside a savepoint
      of its own, during a test (the isolation levels it is asked for never
      reach the driver); between tests, and in a forked child, it refuses,
      with a message that names the fix, so nothing is written for good;
    - on Flask <= 3.1, every request pushes an app context of its own, as
      Flask 3.2 does, so each request has a Session of its own (unless a
      test asks for Flask 3.1's habit: :meth:`transaction`);
    - ``app.test_cli_runner()`` runs each command in an app context of its
      own, as ``flask <command>`` does;
    - every other app of ``db`` (one a test makes with another config, one
      a fixture made earlier) is taken over the same way, and its
      ``db.engine`` is the run's engine, under the app's own URL;
    - outside any app context between tests, ``db.session`` and
      ``db.engine`` raise the blocker's message rather than Flask's;
    - :meth:`shared_data` begins rows that the tests of a scope share, and
      a test run with ``real_commits`` gets the app's own pool back.

    All of it is undone by :meth:`close`, which also drops the tables it
    created.
    """

    __test__ = False

    def __init__(self, db: ScopedDB, app: Flask, *, create_tables: bool = True) -> None:
        self.db, self.app = db, app
        if any(other.db is db for other in _open_test_connections):
            raise TestSetupError(
                "A TestConnection is already open on this ScopedDB, and every app of it is taken over for that"
                " run: open one at a time (close the first), one for the whole test run."
            )
        with app.app_context():
            self.engine = db.engine
        _on_the_runs_database(self.engine.url)
        self._drop_tables = create_tables
        if create_tables:
            db.metadata.create_all(self.engine)
        self._table_names = set(inspect(self.engine).get_table_names())
        self.connection: Connection = self.engine.connect()
        """The :class:`~sqlalchemy.Connection` every test's transaction runs on."""
        autocommit = _autocommits(self.connection)
        _transactional(self.connection)
        # db.session.get_bind() is this Connection in a test, the engine in production: .url reads on both.
        self.connection.url = self.engine.url  # type: ignore[attr-defined]
        self._pool = _TestPool(self.connection, autocommit=autocommit)
        self.engine.pool = self._pool
        event.listen(self.engine, "before_cursor_execute", self._pool.sql_sent, retval=True)
        event.listen(self.engine, "set_connection_execution_options", self._keep_isolation_level)
        # Whatever way code asks an engine connection for an isolation level (a Connection's
        # or an engine's execution options), it ends in this call, with the DBAPI connection
        # the pool handed out. (The test's own connection: _transactional.)
        self.engine.dialect.set_isolation_level = self._set_isolation_level  # type: ignore[method-assign]
        db._registry.scopefunc = self._app_context
        _open_test_connections.add(self)
        self._requests_share_context = False
        self._shared: list[SharedData] = []  # open, outermost first
        # Where the open SharedData's objects wait between tests: expired, and refused by the engine there.
        self._holder = Session(bind=self.engine)
        self._all_tables: list[Table] | None = None  # the run's tables in dependency order, for real commits
        # Each app taken over, with its own engine and CLI runner class to give back, if it still lives.
        self._apps: weakref.WeakKeyDictionary[Flask, tuple[Engine, type[t.Any] | None]] = weakref.WeakKeyDictionary()
        for each in [app, *(other for other in db._apps if other is not app)]:
            self._take_over(each)
        db.init_app = self._init_app  # type: ignore[method-assign]

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Give the apps their engines, request contexts and CLI runners back,
        close the connection and drop the tables it created."""
        del self.db.init_app
        self._shared.clear()  # the connection's close rolls their rows back
        self._holder.close()
        for app, (engine, cli_runner_class) in list(self._apps.items()):
            app.test_cli_runner_class = cli_runner_class
            if _RequestContextOfItsOwn is not None:  # pragma: no branch (None on Flask 3.2)
                del app.request_context
            app.extensions[_EXTENSION_KEY] = _State(self.db, engine)
        self.engine.pool = self._pool.original
        self._pool.committing.close()
        event.remove(self.engine, "before_cursor_execute", self._pool.sql_sent)
        event.remove(self.engine, "set_connection_execution_options", self._keep_isolation_level)
        del self.engine.dialect.set_isolation_level
        self.db._registry.scopefunc = _current_app_context
        _open_test_connections.discard(self)
        if _is_mariadb(self.connection) and not self.connection.invalidated:
            _reset_mariadb_session(self.connection)  # after a USE, say, the drop goes to a new connection
        self.connection.close()
        if self._drop_tables:
            self.db.metadata.drop_all(self.engine)

    def _init_app(self, app: Flask) -> None:
        """``db.init_app`` for the run: an app made while it runs (a test
        calls the factory with another config) is taken over too."""
        type(self.db).init_app(self.db, app)
        self._take_over(app)

    def _take_over(self, app: Flask) -> None:
        """For the run: on Flask <= 3.1, ``app``'s requests push an app context
        of their own (unless a test asks to share its own); its CLI runner runs
        each command in a context of its own; and any app but the one under
        test gets the run's engine, under its own URL and execution options."""
        engine = app.extensions[_EXTENSION_KEY].engine
        if engine is not self.engine:
            # Whatever its URL names, even another backend: everything of the run goes to the run's
            # database. An OptionEngine shares the run's pool, dialect (initialised) and events.
            options = {**self.db._engine_options, **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {})}
            autocommit = options.get("isolation_level") == "AUTOCOMMIT"
            level = "AUTOCOMMIT" if autocommit else self.connection.default_isolation_level
            run_engine = self.engine.execution_options(**{"isolation_level": level, **engine.get_execution_options()})
            run_engine.url = engine.url
            app.extensions[_EXTENSION_KEY] = _State(self.db, run_engine)
        if _RequestContextOfItsOwn is not None:  # pragma: no branch (None on Flask 3.2)
            own, shared = _RequestContextOfItsOwn, flask.ctx.RequestContext
            app.request_context = lambda environ: (  # type: ignore[method-assign]
                shared if self._requests_share_context else own
            )(app, environ)
        self._apps[app] = (engine, app.test_cli_runner_class)
        app.test_cli_runner_class = _cli_runner_of_its_own_context()

    def _app_context(self) -> object:
        """``db.session``'s scope for the run: the current app context, or,
        between tests, the blocker's message rather than Flask's."""
        try:
            return _current_app_context()
        except RuntimeError:
            if self._pool.joined:
                raise  # a thread of the test's that pushed no context: Flask's own message says it
            raise RuntimeError(_BLOCKED) from None

    def _keep_isolation_level(self, connection: Connection, options: dict[str, t.Any]) -> None:
        # A Session's isolation level (SQLAlchemy's per-Session recipe) would be set on the test's
        # connection, inside its transaction: the test runs at the level its transaction began with.
        if connection is self.connection:
            options.pop("isolation_level", None)

    def _set_isolation_level(self, dbapi_connection: t.Any, level: str) -> None:
        if isinstance(dbapi_connection, _Savepoint):  # never the driver's: it would end the test's transaction
            dbapi_connection._autocommit = level == "AUTOCOMMIT"
        else:
            type(self.engine.dialect).set_isolation_level(self.engine.dialect, dbapi_connection, level)  # type: ignore[arg-type]

    def shared_data(self) -> SharedData:
        """Begin rows that the tests of a scope share, written once and
        rolled back after the scope: see :class:`SharedData`."""
        return SharedData(self)

    @contextlib.contextmanager
    def transaction(
        self, *, restart_ids: bool = False, requests_share_context: bool = False, real_commits: bool = False
    ) -> t.Iterator[scoped_session[Session]]:
        """One test: a transaction on :attr:`connection`, rolled back after
        the block, with an app context pushed for the block; yields
        ``db.session``.

        Every Session made in the block (in this context, a request, a nested
        context or another thread) is bound to :attr:`connection` and joins
        the transaction through a SAVEPOINT of its own, so ``commit()``,
        ``rollback()`` and ``close()`` stay inside it; connections taken from
        ``db.engine`` join it the same way. The connection's server state is
        reset before the block (README, "Testing"). Inside open
        :class:`SharedData`, the transaction is a savepoint in theirs, and
        their objects are in ``db.session``.

        :param restart_ids: Start every autoincrement id where it would start
            in tables holding only the rows committed for the run, 1 in an
            empty one (PostgreSQL and MariaDB keep counting otherwise).
        :param requests_share_context: Run the request contexts pushed in
            the test (the test client's, ``app.test_request_context()``) in
            the test's app context, on its Session and ``g``, as Flask <= 3.1
            does by itself (README, "Requests"). Flask 3.2 gives every
            request a context of its own: there it raises.
        :param real_commits: No transaction: the code under test, and any
            process forked from the run (a live server), commits for real.
            After the block every table holds again what it held before it,
            and ids go on after its rows.
        :raises TestSetupError: ``requests_share_context`` on Flask 3.2;
            ``real_commits`` inside open SharedData; ``restart_ids`` inside
            open SharedData on MariaDB.
        :raises TestFailure: after the block (chained to the block's own
            exception, if it raised one), naming each thing the code under
            test did that escaped the transaction or was left behind: it ended
            the outer transaction, left engine connections checked out or
            contexts pushed, a teardown raised, the server dropped the
            connection. Whatever it did, the next transaction starts clean.
            Before the block, if the open SharedData was lost.
        """
        if requests_share_context and _RequestContextOfItsOwn is None:  # pragma: no cover (Flask 3.2)
            raise TestSetupError(_SHARED_ON_FLASK_3_2)
        if real_commits and self._shared:
            raise TestSetupError(_COMMITS_IN_SHARED_DATA)
        kept, sequences = self._keep() if real_commits else ([], [])
        transaction = None if real_commits else self._begin(restart_ids)
        self._requests_share_context = requests_share_context
        problems: list[str] = []
        with _reported(problems):
            try:
                with self._run(transaction, problems) as session:
                    yield session
            finally:
                if transaction is None:
                    problems += self._put_back(kept, sequences)
                else:
                    self._settle(transaction, problems, rollback=True)

    def _begin(self, restart_ids: bool) -> RootTransaction | NestedTransaction:
        """Begin a test's transaction, or a SharedData's: on a clean
        connection, or as a savepoint inside the open SharedData."""
        if lost := [data.lost for data in self._shared if data.lost]:
            raise TestFailure([_LOST.format(lost[0])])
        if not self._shared:
            return _begin_clean(self.connection, self._pool, restart_ids)
        if restart_ids and _is_mariadb(self.connection):
            raise TestSetupError(_RESTART_IN_SHARED_DATA)
        transaction = self.connection.begin_nested()
        if self.connection.dialect.name == "postgresql":
            _reset_postgresql_session(self.connection, restart_ids)
        return transaction

    @contextlib.contextmanager
    def _run(
        self, transaction: Transaction | None, problems: list[str], data: SharedData | None = None
    ) -> t.Iterator[scoped_session[Session]]:
        """Run a test's block, or a SharedData's, in an app context of its
        own, with the open SharedData's objects in its ``db.session``: every
        Session and ``db.engine`` connection joined to ``transaction``, or,
        without one, the app's own engine. Add what went wrong to ``problems``."""
        connection, pool, db = self.connection, self._pool, self.db
        factory = db.session.session_factory
        user_options = dict(factory.kw)
        if transaction is None:
            self.engine.pool = pool.original
            pool.lend()
            pool.committing[0] = 1  # for a server forked from the run: _TestPool.connect
        else:
            # "create_savepoint": a Session never commits or rolls back the test's
            # transaction, only savepoints of its own. SQLAlchemy: "Joining a
            # Session into an External Transaction (such as for test suites)".
            factory.configure(bind=connection, join_transaction_mode="create_savepoint")
            pool.join(connection)
        request = _current_request_context()  # pytest-flask's, say: it stays
        context = self.app.app_context()
        context.push()
        try:
            if objects := [each for shared in self._shared for each, _ in shared.objects]:
                self._holder.expunge_all()
                db.session.add_all(objects)
            yield db.session
        finally:
            pool.ending = True
            try:
                problems += _pop_contexts_above(context, request)
                if data is not None:
                    problems += data._take(db.session)
                self._release(db.session() if db.session.registry.has() else None)
                try:
                    # Whatever the code under test sent through a Session ran inside
                    # one of that Session's savepoints. A COMMIT (or DDL or TRUNCATE
                    # on MariaDB, which commit implicitly) took the savepoint with the
                    # transaction, so rolling back to it here fails.
                    db.session.remove()
                except DBAPIError as error:
                    # Unless a rollback or commit of another Session's savepoint below took this one: that is
                    # what one connection does with a stack of savepoints, and two connections would not.
                    if not pool.named_a_gone_one:
                        problems.append(_ENDED.format(error.orig))
                self._home()
                try:
                    context.pop()
                    if _cv_app.get(None) is context:  # pushed again: `with client:` kept a request that shared it
                        problems.append(
                            "The test pushed its own app context again and left it: pop every context it pushes."
                        )
                    while _cv_app.get(None) is context:
                        context.pop()
                except Exception as error:  # noqa: BLE001 (any teardown_appcontext function may raise anything)
                    problems.append(f"A teardown_appcontext function raised {_describe(error)}.")
            finally:
                factory.kw = user_options
                self._requests_share_context = False
                if transaction is None:
                    pool.committing[0] = 0
                    self.engine.pool = pool
                    problems += pool.take_back()
                problems += pool.block()

    def _settle(self, transaction: Transaction, problems: list[str], *, rollback: bool) -> None:
        """After a test's block (``rollback``) or a SharedData's: roll back
        what it wrote; add to ``problems`` if its code ended the outer
        transaction or changed what no rollback undoes, and then start the
        next test clean (the open SharedData is lost)."""
        connection = self.connection
        if not transaction.is_active:  # connection.commit() or rollback()
            problems.append(_ENDED.format("the Connection's transaction was ended"))
        elif not connection.invalidated and _autocommits(connection):  # psycopg2's set_isolation_level(0), say
            problems.append(_ENDED.format("the driver's connection was put in autocommit mode"))
        ended = any(problem.startswith(_ENDED[:40]) for problem in problems)
        self._lose(problems[-1] if ended else None)
        try:
            if not self._shared or self._shared[0].lost:  # the outer transaction is the test's, or gone
                if connection.in_transaction():  # ours, or one begun after the code under test ended ours
                    connection.rollback()
            elif rollback:
                transaction.rollback()
        except DBAPIError as error:  # pragma: no cover (a failure the driver did not take for a drop)
            if not error.connection_invalidated:
                raise
        if connection.invalidated:
            problems.append(_DROPPED)
            self._lose(_DROPPED)
        elif self._shared and _is_mariadb(connection) and _reset_mariadb_session(connection, replace=False):
            problems.append(_MARIADB_STATE_KEPT)
        if ended:
            # What was written before the COMMIT is in the database for good; on a
            # server, what the test's session kept (SETs, temporary tables, LOCK
            # TABLES) outlives a rollback then. Both are made anew.
            if connection.dialect.name != "sqlite":  # whose in-memory database is its connection
                connection.invalidate()
                _reconnect(connection, self._pool)
            self._drop_made_tables()
            self.db.metadata.drop_all(connection)
            self.db.metadata.create_all(connection)
            connection.commit()

    def _lose(self, cause: str | None) -> None:
        """The open SharedData is gone with the outer transaction: say so to the tests of its scope."""
        for data in self._shared if cause else ():
            data.lost = data.lost or cause

    def _release(self, test_session: Session | None) -> None:
        """Before the test's Session is removed: expire everything in it (a
        test's changes to the shared objects are discarded, and nothing is
        loaded for :meth:`_home` to cascade to), and take the shared objects
        that its removal would not detach cleanly out of their Sessions."""
        if not self._shared:
            return
        if test_session is not None:
            test_session.expire_all()
        for data in self._shared:
            for each, _ in data.objects:
                state = instance_state(each)
                if (session := state.session) is None or session is self._holder:
                    continue
                if session is not test_session or not state.persistent:  # _home makes it anew
                    session.expunge(each)

    def _home(self) -> None:
        """After the test's Session is removed: put the open SharedData's
        objects back in the holder, fully expired, whatever the test did to
        them (changed, deleted, detached or made transient): their rows are
        as written again after the rollback."""
        objects = [(each, key) for data in self._shared for each, key in data.objects]
        for each, key in objects:
            state = instance_state(each)
            if state.was_deleted or state.key != key or len(state.unloaded) < len(state.manager):
                # Detached as it was (a Session the test closed), deleted, or without its identity:
                # made anew from its key, with nothing loaded, so that add_all() cascades to nothing.
                make_transient(each)
                for attribute in state.mapper.attrs:
                    state.dict.pop(attribute.key, None)
                for column, value in zip(state.mapper.primary_key, key[1]):
                    name = state.mapper.get_property_by_column(column).key
                    set_committed_value(each, name, value)  # type: ignore[no-untyped-call, unused-ignore]
                make_transient_to_detached(each)
        self._holder.add_all([each for each, _ in objects])

    def _tables(self) -> list[Table]:
        """The tables the run began with, in dependency order (reflected once;
        where foreign keys make a cycle, the order breaks it somewhere)."""
        if self._all_tables is None:
            metadata = MetaData()
            metadata.reflect(self.connection, only=sorted(self._table_names))
            order = sort_tables_and_constraints(metadata.tables.values())  # type: ignore[no-untyped-call]
            self._all_tables = [table for table, _ in order if table is not None]
        return self._all_tables

    def _held(self) -> list[Table]:
        """The tables that hold rows, in dependency order (one query)."""
        tables = self._tables()
        held = self.connection.execute(select(*(exists().select_from(table) for table in tables))).one()
        return [table for table, has in zip(tables, held) if has]

    def _keep(self) -> tuple[list[Table], list[t.Any]]:
        """Before a real-commit test: copy each table that holds rows into a
        temporary table of the run's connection; the tables copied, in
        dependency order, and on PostgreSQL every sequence's value."""
        connection, held = self.connection, self._held()
        quote = connection.dialect.identifier_preparer.quote
        for number, table in enumerate(held):  # in SQL: every value as it is, JSON null apart from NULL
            connection.exec_driver_sql(
                f"CREATE TEMPORARY TABLE {_KEPT_TABLE}{number} AS SELECT * FROM {quote(table.name)}"
            )
        sequences = list(connection.exec_driver_sql(_SEQUENCES)) if connection.dialect.name == "postgresql" else []
        connection.commit()
        return held, sequences

    def _put_back(self, kept: list[Table], sequences: list[t.Any]) -> list[str]:
        """After a real-commit test: each table holds the rows :meth:`_keep`
        copied again, each sequence its value, and ids go on after them; the
        tables the test made are dropped."""
        connection, problems = self.connection, []
        postgresql = connection.dialect.name == "postgresql"
        quote = connection.dialect.identifier_preparer.quote
        try:
            if postgresql:  # a connection left open may hold locks: fail, never wait
                connection.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            elif _is_mariadb(connection):  # which checks a self-referencing key row by row, even in one DELETE
                connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
            self._drop_made_tables()
            deletes = [f"DELETE FROM {quote(table.name)}" for table in reversed(self._held())]
            inserts = [_copy_back(connection, table, f"{_KEPT_TABLE}{number}") for number, table in enumerate(kept)]
            for statements in (deletes, inserts):  # each statement's keys are checked at its end: any row order
                if postgresql and statements:  # one statement for all tables, so that cycles of keys pass
                    statements = ["WITH " + ", ".join(f"s{n} AS ({s})" for n, s in enumerate(statements)) + " SELECT 1"]
                for statement in statements:
                    connection.exec_driver_sql(statement)
            if connection.dialect.name == "sqlite" and inspect(connection).has_table("sqlite_sequence"):
                connection.exec_driver_sql("DELETE FROM sqlite_sequence")  # AUTOINCREMENT's counters
            if sequences:
                names, values, starts = (list(column) for column in zip(*sequences))
                connection.execute(_SEQUENCES_BACK, {"names": names, "values": values, "starts": starts})
            self._drop_kept(len(kept))
            connection.commit()
            if _is_mariadb(connection):
                connection.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
                _restart_auto_increments(connection)
                _reset_mariadb_session(connection, replace=False)  # notes the state these SETs left
        except DBAPIError as error:
            connection.rollback()
            problems.append(_NOT_PUT_BACK.format(error.orig))
            with contextlib.suppress(DBAPIError):  # a connection the server dropped is replaced before the next test
                self._drop_kept(len(kept))
                connection.commit()
        return problems

    def _drop_kept(self, count: int) -> None:
        """Drop the temporary tables :meth:`_keep` made."""
        dialect = self.connection.dialect.name
        for name in (f"{_KEPT_TABLE}{number}" for number in range(count)):  # never a table of the app's own
            qualified = {"postgresql": f"pg_temp.{name}", "sqlite": f"temp.{name}"}.get(dialect, name)
            self.connection.exec_driver_sql(
                f"DROP {'TEMPORARY ' if dialect == 'mysql' else ''}TABLE IF EXISTS {qualified}"
            )

    def _drop_made_tables(self) -> None:
        """Drop the tables that a test made, which the run began without."""
        if names := set(inspect(self.connection).get_table_names()) - self._table_names:  # reflect(only=[]): all
            made = MetaData()
            made.reflect(self.connection, only=list(names))  # with the tables their keys refer to, kept
            made.drop_all(self.connection, tables=[made.tables[name] for name in names])

    @contextlib.contextmanager
    def assert_num_queries(self, expected: int) -> t.Iterator[None]:
        """Fail unless the block sends exactly ``expected`` SQL statements
        through the engine, not counting BEGIN and the SAVEPOINT statements
        (in SQL the pair's savepoints cannot be told from the app's own).

        :raises AssertionError: with both counts and the SQL sent.
        """
        statements: list[str] = []
        self._pool.statements = statements
        try:
            yield
        finally:
            self._pool.statements = None
        if len(statements) != expected:
            sql = "\n".join(f"  {s}" for s in statements)
            raise AssertionError(f"expected {expected} SQL statement(s), got {len(statements)}:\n{sql}")


class SharedData(contextlib.AbstractContextManager[scoped_session[Session]]):
    """Rows that the tests of a scope share (a pytest fixture of module
    scope, a unittest ``setUpClass``): written once, seen by each test of the
    scope as they were written, whatever the test before did, and rolled back
    after the scope, as Django's ``setUpTestData`` does for a class. Make it
    with :meth:`TestConnection.shared_data`, which begins its savepoint on the
    run's connection; each test's transaction is then a savepoint inside it.

    Write the rows in its ``with`` block, through the ``db.session`` it
    yields in an app context of its own, and commit them as the app's code
    would: what is left uncommitted is rolled back, and named. Everything
    the pair guarantees in a test holds there. The ORM objects committed in
    the block are, in each test of the scope, in the test's ``db.session``,
    expired: they read the rows afresh, and a test's changes to them are
    gone in the next. Between tests they refuse to load, as the database
    does. :meth:`close`, after the scope, rolls the rows back. SharedData
    nests (a session's, a module's, a class's): close each before the one it
    was begun in.
    """

    __test__ = False

    def __init__(self, test_connection: TestConnection) -> None:
        if test_connection._pool.joined:
            raise TestSetupError(_SHARED_IN_A_TEST)
        self._test_connection = test_connection
        self.objects: list[tuple[object, t.Any]] = []
        """The ORM objects its block committed, each with its identity key."""
        self.lost: str | None = None
        """Why its rows are gone or incomplete before :meth:`close`: a test
        ended the outer transaction, its block raised or left changes
        uncommitted, or the SharedData it was begun in was closed first.
        Each test of its scope raises it."""
        self._transaction = test_connection._begin(restart_ids=False)
        test_connection._shared.append(self)
        self._writing: contextlib.AbstractContextManager[scoped_session[Session]] | None = None

    def __enter__(self) -> scoped_session[Session]:
        self._writing = self._write()
        return self._writing.__enter__()

    def __exit__(self, *exc_info: t.Any) -> bool | None:  # noqa: PYI036 (passed on as they are)
        assert self._writing is not None
        return self._writing.__exit__(*exc_info)

    @contextlib.contextmanager
    def _write(self) -> t.Iterator[scoped_session[Session]]:
        test_connection, problems = self._test_connection, t.cast(list[str], [])
        with _reported(problems):
            try:
                with test_connection._run(self._transaction, problems, data=self) as session:
                    yield session
            except BaseException as error:
                self.lost = f"its block raised {error!r}"
                raise
            finally:
                test_connection._settle(self._transaction, problems, rollback=False)
                self.lost = self.lost or next(iter(problems), None)  # each test of the scope says so

    def _take(self, session: scoped_session[Session]) -> list[str]:
        """Note the objects that ``session`` holds, but those of the
        SharedData it nests in; say what its block left uncommitted."""
        held = {key for data in self._test_connection._shared for _, key in data.objects}
        self.objects = [
            (each, key) for each in session.identity_map.values() if (key := instance_state(each).key) not in held
        ]
        if session.new or session.dirty or session.deleted:
            return [_UNCOMMITTED.format(len(session.new), len(session.dirty), len(session.deleted))]
        return []

    def close(self) -> None:
        """Roll its rows back, with those of the SharedData begun inside it,
        if any is still open (they are lost: a :class:`TestFailure` says so).

        :raises TestFailure: SharedData begun inside it was still open.
        """
        shared, holder = self._test_connection._shared, self._test_connection._holder
        if self not in shared:
            return
        inner = shared[shared.index(self) + 1 :]
        for data in [*reversed(inner), self]:
            if data._transaction.is_active:  # else the outer transaction is gone, with its savepoints
                data._transaction.rollback()
            data.lost = data.lost or _CLOSED_FIRST  # the inner ones' tests say so until each is closed
        shared.remove(self)
        holder.expunge_all()  # its objects: a later SharedData may hold objects of the same keys
        holder.add_all([each for data in shared for each, _ in data.objects])
        if inner:
            raise TestFailure([_CLOSED_FIRST])


@contextlib.contextmanager
def _reported(problems: list[str]) -> t.Iterator[None]:
    """Raise :class:`TestFailure` after the block if ``problems`` has any,
    chained to the block's own exception."""
    failed: BaseException | None = None
    try:
        yield
    except BaseException as error:
        failed = error
        raise
    finally:
        if problems:
            raise TestFailure(problems) from failed


_TRANSACTION_CONTROL = re.compile(r"\s*(BEGIN|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.IGNORECASE)

_ENDED = (
    "The code under test ended the outer transaction (a COMMIT, or DDL or TRUNCATE on"
    " MariaDB/MySQL, which commit implicitly): what it wrote before that may survive this test. ({})"
)
_KEPT = (
    "A db.engine connection rolled back, but what it wrote was kept: on the test's one database connection"
    " another Session's or connection's work shared its savepoint, and a rollback cannot undo one and keep the"
    " other, as separate connections would (README, 'What rollback() undoes')."
)
_UNDONE = (
    "A rollback undid what another Session or db.engine connection had written or committed inside its"
    " savepoint, which separate connections would have kept (README, 'What rollback() undoes')."
)
_SHARED_ON_FLASK_3_2 = (
    "requests_share_context keeps a habit of Flask <= 3.1, where a request reuses the test's app context;"
    " Flask 3.2 gives every request a context of its own, with Flask-SQLAlchemy too. Read what a view put"
    " in g inside `with client:`, and refresh objects loaded before a request (README, 'Requests')."
)
_NO_TRANSACTION = (
    "This statement cannot run inside a transaction, and in a test every statement runs inside the test's,"
    " on AUTOCOMMIT connections too: test it outside the fixture pair (README, 'Limits'). ({})"
)
_COMMITS_IN_SHARED_DATA = (
    "A real-commit test cannot run inside SharedData (a fixture of module or wider scope that takes"
    " shared_session, still open): its rows are uncommitted on the run's connection, where another connection would wait on"
    " them. conftest.py runs real-commit tests first; move session-scoped shared rows to module scope, or commit"
    " them for the run through the connection fixture (README, 'Shared data')."
)
_SHARED_IN_A_TEST = (
    "SharedData cannot begin while a test (or another SharedData's block) runs: a fixture that takes"
    " shared_session was set up from inside a test, by request.getfixturevalue() say. Name it among the test's"
    " arguments, or usefixtures it, so that pytest sets it up before the test."
)
_RESTART_IN_SHARED_DATA = (
    "restart_ids cannot restart MariaDB's AUTO_INCREMENT inside SharedData: ALTER TABLE commits, which would"
    " commit the shared rows. Assert ids relative to the shared rows' own (README, 'Shared data')."
)
_LOST = (
    "The rows that this test's scope shares (SharedData) are gone or incomplete, and the scope's remaining tests"
    " fail with this until it ends: {}"
)
_CLOSED_FIRST = (
    "SharedData was closed while SharedData begun inside it was still open (a fixture of wider scope first"
    " set up inside a narrower one's scope: a module-scoped one first used in a class whose class-scoped one"
    " was open); the inner rows went with it. Have the narrower fixture request the wider one."
)
_UNCOMMITTED = (
    "The SharedData's block left {} new, {} changed and {} deleted object(s) uncommitted, which are rolled"
    " back: commit them, as the app's code would."
)
_MARIADB_STATE_KEPT = (
    "The test changed its MariaDB session (a SET, a user variable, a temporary table, USE, a prepared statement)"
    " inside SharedData, where a new connection would lose the shared rows: the scope's next tests run on that"
    " session. Set session variables in init_command or a connect event (README, 'Shared data')."
)
_LEFT_CHECKED_OUT = (
    "The code under test left {} connection(s) of db.engine checked out: close every Connection it takes from"
    " the engine."
)
_NOT_PUT_BACK = (
    "The tables could not be put back as they were before this real-commit test ({}): what it committed stays,"
    " and the next tests may see it. Close every connection the test takes, and end its transactions."
)
_LEFT_OPEN = "This db.engine connection was left open by a test that has ended: take a new one in each test."
_DROPPED = "The database server dropped the test's connection during the test; the next test reconnects."
_BLOCKED = (
    "This test used the app's database outside the fixture pair (outside TestConnection.transaction()), where"
    " what it writes would stay for good: name db_session (or client) in the test, or put its whole module"
    ' inside the pair with pytestmark = pytest.mark.usefixtures("db_session"). Rows that many tests share: write'
    " them in a fixture of module, class or session scope that takes shared_session (README, 'Shared data')."
)


# Every TestDatabase holding a slot: a TestConnection works on one of their databases.
_open_test_databases: weakref.WeakSet[TestDatabase] = weakref.WeakSet()


def _on_the_runs_database(url: URL) -> None:
    """Refuse an app whose engine is on another database than the run's own,
    where the tests would write, and whose tables they would drop."""
    runs = [database.url for database in _open_test_databases]
    if runs and _where(url) not in map(_where, runs):
        raise TestSetupError(
            f"The app under test is on {_masked(url)}, not on the run's own database ({_masked(runs[0])}), which"
            " TEST_DATABASE_URL names only from pytest_configure on: the app's config read TEST_DATABASE_URL"
            " before (a config class, at import), and the tests would write to that database and drop its"
            " tables. Read os.environ['TEST_DATABASE_URL'] in the app fixture (README, 'Moving an existing"
            " suite', step 2)."
        )


def _where(url: URL) -> tuple[t.Any, ...]:
    """Which database ``url`` names: a server's, an SQLite file however its
    path is written, or SQLite's memory (which a run in memory shares)."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        return (backend, None if _is_sqlite_memory(url) else Path(url.database or "").resolve())
    return ("mysql" if backend == "mariadb" else backend, url.host, url.port, url.database)


# Every open TestConnection, for _no_test_transaction_in_a_child.
_open_test_connections: weakref.WeakSet[TestConnection] = weakref.WeakSet()


def _no_test_transaction_in_a_child() -> None:
    # A child forked during a test (multiprocessing, pytest-flask's live_server) would run
    # db.session on the parent's socket, inside the test's transaction: its Sessions are
    # bound to the app's engine instead, whose pool refuses in a forked child.
    for test_connection in list(_open_test_connections):
        test_connection.db.session.session_factory.kw["bind"] = None
        # Forked in a real-commit test, it would commit for good ever after: it follows the run's
        # flag instead, on a pool of its own (the parent's, disposed by then, is kept, never closed).
        engine, pool = test_connection.engine, test_connection._pool
        _keep_forever(pool.original)
        pool.original = engine.pool if engine.pool is not pool else pool.original.recreate()
        engine.pool = pool


if hasattr(os, "register_at_fork"):  # pragma: no branch (False only on Windows, which cannot fork)
    os.register_at_fork(after_in_child=_no_test_transaction_in_a_child)


def check_version(written_for: str) -> None:
    """Check that this module serves test code written for the release
    ``written_for`` (conftest.py names its own): same major and minor
    version. The README's "Upgrading" says what to do when they differ.

    :raises TestSetupError: naming both versions.
    """
    if written_for.split(".")[:2] != __version__.split(".")[:2]:
        raise TestSetupError(
            f"The test code (conftest.py) was written for flask_scoped_db {written_for}, and flask_scoped_db.py"
            f" is {__version__}: CHANGES.md says what changed between them; take the conftest.py of release"
            f" {__version__} and carry your own lines over (README, 'Upgrading'), or copy the matching module."
        )


# -- Starting each test clean ------------------------------------------------


def _begin_clean(connection: Connection, pool: _TestPool, restart_ids: bool) -> RootTransaction:
    """Begin the test's transaction on a connection with no state left by
    earlier tests; return the transaction.

    What a ROLLBACK leaves behind differs per backend. PostgreSQL keeps
    session-level advisory locks and prepared statements: one statement
    clears them. MariaDB keeps ``GET_LOCK`` locks, temporary tables, user and
    session variables, the current database, prepared statements: the locks
    are released, and if the last test changed the session at all the
    connection is replaced by a new one (:func:`_reset_mariadb_session`),
    which the app's ``init_command`` or ``connect`` events set up as always.
    There is no public call of PyMySQL or mysqlclient that resets a
    connection. What SQLite keeps per connection (PRAGMAs, functions) is not
    reset.
    """
    if _is_mariadb(connection) and not connection.invalidated:
        _reset_mariadb_session(connection)
    if connection.invalidated:  # the server dropped it during the last test, or the reset replaced it
        _reconnect(connection, pool)
    if restart_ids and _is_mariadb(connection):
        _restart_auto_increments(connection)
    transaction = connection.begin()
    try:
        dbapi_connection = connection.connection.driver_connection
        if connection.dialect.name == "postgresql":
            _reset_postgresql_session(connection, restart_ids)
        elif connection.dialect.driver == "pysqlite" and not dbapi_connection.in_transaction:  # type: ignore[union-attr]
            # In its legacy transaction mode (the default before Python 3.16),
            # pysqlite sends BEGIN only before INSERT, UPDATE and DELETE: a SAVEPOINT
            # sent first opens no transaction, and its RELEASE is a real COMMIT.
            # Where the driver (autocommit=False, Python 3.12+) or the app's own
            # "begin" event already opened a transaction, there is nothing to do.
            connection.exec_driver_sql("BEGIN")
    except BaseException:  # pragma: no cover (the reset failed: leave the connection as it was)
        transaction.rollback()
        raise
    return transaction


def _reconnect(connection: Connection, pool: _TestPool) -> None:
    """A new DBAPI connection for an invalidated ``connection``, from the app's own pool."""
    connection.engine.pool = pool.original
    try:
        connection.connection  # noqa: B018 (reconnects)
    finally:
        connection.engine.pool = pool
    _transactional(connection)
    if _is_mariadb(connection):
        _reset_mariadb_session(connection)  # notes the new connection's state


def _is_mariadb(connection: Connection) -> bool:
    """Whether ``connection`` is to MariaDB or MySQL, whose URLs say ``mysql+`` or ``mariadb+``."""
    return connection.dialect.name in ("mysql", "mariadb")


def _autocommits(connection: Connection) -> bool:
    """Whether a server's driver connection is in its own autocommit mode."""
    dbapi_connection: t.Any = connection.connection.dbapi_connection
    get = getattr(dbapi_connection, "get_autocommit", None)  # PyMySQL's and mysqlclient's; psycopg's is an attribute
    return connection.dialect.name != "sqlite" and bool(get() if get else dbapi_connection.autocommit is True)


def _transactional(connection: Connection) -> None:
    """Take the test's connection out of its driver's autocommit mode, where an
    engine made with ``isolation_level="AUTOCOMMIT"`` puts every new one."""
    if _autocommits(connection):
        dbapi_connection: t.Any = connection.connection.dbapi_connection
        level: t.Any = connection.default_isolation_level  # read at the first connect: the database's own
        connection.dialect.set_isolation_level(dbapi_connection, level)


def _reset_postgresql_session(connection: Connection, restart_ids: bool) -> None:
    """Release advisory locks and drop prepared statements, in one statement
    inside the test's transaction; with ``restart_ids``, set every sequence
    that moved to go on after its column's rows, or back to its start value
    (``setval`` is not transactional)."""
    connection.exec_driver_sql("DEALLOCATE ALL; SELECT pg_advisory_unlock_all()" + (_RESTART if restart_ids else ""))


_KEPT_TABLE = "flask_scoped_db_kept_"  # the temporary tables of a real-commit test's rows

# Every sequence's value before a real-commit test, and after it each one that moved set back to that value.
_SEQUENCES = (
    "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) AS name, last_value, start_value"
    " FROM pg_sequences"
)
_SEQUENCES_BACK = text(
    "SELECT setval(kept.name::regclass, coalesce(kept.last_value, kept.start_value), kept.last_value IS NOT NULL)"
    " FROM unnest(CAST(:names AS text[]), CAST(:values AS bigint[]), CAST(:starts AS bigint[]))"
    f" AS kept(name, last_value, start_value) JOIN ({_SEQUENCES}) after_test ON after_test.name = kept.name"
    " WHERE after_test.last_value IS DISTINCT FROM kept.last_value"
)


def _copy_back(connection: Connection, table: Table, kept: str) -> str:
    """An INSERT of the rows of temporary table ``kept`` into ``table``: every
    column but generated ones, identity values as they were."""
    quote = connection.dialect.identifier_preparer.quote
    columns = ", ".join(quote(column.name) for column in table.columns if column.computed is None)
    overriding = "OVERRIDING SYSTEM VALUE " if connection.dialect.name == "postgresql" else ""
    return f"INSERT INTO {quote(table.name)} ({columns}) {overriding}SELECT {columns} FROM {kept}"


# Each sequence that moved, set to go on after the largest value in the column that owns it (a serial or
# identity column), or back to its start value where that column is empty or there is none. No percent signs.
_RESTART = (
    "; DO $$DECLARE r record; m bigint; BEGIN FOR r IN SELECT s, start_value, attrelid::regclass AS t, attname FROM"
    " (SELECT (quote_ident(schemaname) || '.' || quote_ident(sequencename))::regclass AS s, start_value FROM"
    " pg_sequences WHERE last_value IS NOT NULL) moved LEFT JOIN pg_depend ON objid = s AND classid = 'pg_class'::regclass"
    " AND deptype IN ('a', 'i') LEFT JOIN pg_attribute ON attrelid = refobjid AND attnum = refobjsubid LOOP EXECUTE"
    " coalesce('SELECT max(' || quote_ident(r.attname) || ') FROM ' || r.t, 'SELECT NULL') INTO m;"
    " PERFORM setval(r.s, coalesce(m, r.start_value), m IS NOT NULL); END LOOP; END$$"
)


# How many SET, CREATE TABLE (temporary ones apart), USE, PREPARE, HANDLER
# ... OPEN and CREATE SEQUENCE statements the session ran, and how many user
# variables it has: when one of them moved, the last test changed its state.
_MARIADB_STATE = (
    "SELECT RELEASE_ALL_LOCKS(), (SELECT GROUP_CONCAT(variable_value ORDER BY variable_name) FROM"
    " information_schema.session_status WHERE variable_name IN ('COM_SET_OPTION', 'COM_CREATE_TABLE',"
    " 'COM_CREATE_TEMPORARY_TABLE', 'COM_CHANGE_DB', 'COM_PREPARE_SQL', 'COM_HA_OPEN', 'COM_CREATE_SEQUENCE')),"
    " (SELECT COUNT(*) FROM information_schema.user_variables WHERE variable_value IS NOT NULL)"
)


def _reset_mariadb_session(connection: Connection, *, replace: bool = True) -> bool:
    """Release ``GET_LOCK`` locks; say if the last test changed its session
    state (a SET, a temporary table, a user variable, another current
    database, a prepared statement, an open HANDLER), and then replace the
    connection, unless not to ``replace`` it."""
    # A DBAPI cursor: its SELECT may open the transaction that the test's then goes on in.
    with contextlib.closing(connection.connection.cursor()) as cursor:
        cursor.execute(_MARIADB_STATE)
        state = tuple(cursor.fetchall()[0][1:])
    # The info dictionary goes with the DBAPI connection: a new one is noted.
    changed: bool = connection.info.setdefault("flask_scoped_db_state", state) != state
    if changed and replace:
        connection.invalidate()
    elif changed:
        connection.info["flask_scoped_db_state"] = state  # said once
    return changed


def _restart_auto_increments(connection: Connection) -> None:
    """Set AUTO_INCREMENT back to 1 on the tables whose counter moved (ALTER
    TABLE commits implicitly: this runs before the test's transaction)."""
    moved = connection.exec_driver_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND auto_increment > 1"
    ).scalars()
    quote = connection.dialect.identifier_preparer.quote
    for table in moved.all():
        connection.exec_driver_sql(f"ALTER TABLE {quote(table)} AUTO_INCREMENT = 1")
    connection.commit()


# -- The app's engine during the run: connections join the test -------------


class _TestPool(NullPool):
    """The app engine's pool while a TestConnection is open.

    During a test (``join``), each connection it hands out is the test's own
    DBAPI connection, with a savepoint of its own from its first statement to
    its commit or rollback (``_Savepoint``): what the code under test does
    through ``db.engine`` sees the test's rows, is undone with the test, and
    never ends or waits on the test's transaction. Between tests (``block``)
    it refuses: a test outside the pair would write for good.

    It follows every savepoint on the test's connection and whose writes are
    in each: on one connection, a savepoint released by one party merges its
    work into the one below it, of another party perhaps, and a rollback
    undoes all that is above its savepoint, so that a party's commit or
    rollback must not end another's savepoint, and a rollback that would undo
    another party's work, or cannot undo its own alone, is reported.
    """

    def __init__(self, connection: Connection, *, autocommit: bool) -> None:
        super().__init__(self._connect, dialect=connection.dialect)
        self.original: Pool = connection.engine.pool
        self.autocommit = autocommit  # the engine's own connections autocommit (create_engine's isolation_level)
        self._dbapi_connection: t.Any = None
        self._open: list[_Savepoint] = []
        self._problems: list[str] = []
        self._names = itertools.count()
        self._pid = os.getpid()
        # The savepoints open on the test's connection, oldest first, each with the
        # _Savepoint whose connection made it (None: the test's own Connection).
        self.savepoints: list[tuple[str, _Savepoint | None]] = []
        self.writers: dict[str, set[_Savepoint | None]] = {}  # whose writes each of them holds
        # Those that a RELEASE or ROLLBACK TO of one below them ended; whether the last statement named one.
        self.gone: set[str] = set()
        self.named_a_gone_one = False
        self.ending = False  # the test is over: the rollbacks now are the pair's own
        self.statements: list[str] | None = None  # what assert_num_queries records
        # 1 while a real-commit test runs: shared with the processes forked from the run (a live server).
        self.committing = mmap.mmap(-1, 1)

    def join(self, connection: Connection) -> None:
        """Hand out the test's ``connection`` until :meth:`block`."""
        self._dbapi_connection = connection.connection.dbapi_connection
        self.savepoints.clear()
        self.writers.clear()
        self.gone.clear()
        self.ending = False

    def block(self) -> list[str]:
        """Refuse connections from now on; return what went wrong with the
        ones handed out since :meth:`join`."""
        self._dbapi_connection = None
        for savepoint in self._open:  # left open: rolling it back tells if the outer transaction ended
            savepoint.forget()
        problems, self._problems = self._problems, []
        if self._open:
            problems.append(
                f"The code under test left {len(self._open)} connection(s) of db.engine checked"
                " out: close every Connection it takes from the engine."
            )
        self._open.clear()
        return problems

    @property
    def joined(self) -> bool:
        """Whether a test runs: connections are handed out."""
        return self._dbapi_connection is not None

    def recreate(self) -> _TestPool:
        """``engine.dispose()`` keeps this pool: it holds no connections of its own."""
        return self

    def connect(self) -> PoolProxiedConnection:
        """In a process forked from the run, the app's own pool during a real-commit test."""
        if self.committing[0] and os.getpid() != self._pid:
            return self.original.connect()
        return super().connect()

    def lend(self) -> None:
        """Hand the app's own pool to a real-commit test, noting what it checks out."""
        self.lent: dict[int, PoolProxiedConnection] = {}
        event.listen(self.original, "checkout", self._lent)
        event.listen(self.original, "checkin", self._returned)

    def take_back(self) -> list[str]:
        """After a real-commit test: close what it left checked out, whose
        locks would stop the tables being put back, and say so."""
        event.remove(self.original, "checkout", self._lent)
        event.remove(self.original, "checkin", self._returned)
        for connection in self.lent.values():
            connection.invalidate()
        return [_LEFT_CHECKED_OUT.format(len(self.lent))] if self.lent else []

    def _lent(self, dbapi_connection: t.Any, record: ConnectionPoolEntry, connection: PoolProxiedConnection) -> None:
        self.lent[id(record)] = connection

    def _returned(self, dbapi_connection: t.Any, record: ConnectionPoolEntry) -> None:
        self.lent.pop(id(record), None)

    def checkedout(self) -> int:
        """The connections the code under test holds, as QueuePool counts them (a metrics view asks)."""
        return len(self._open)

    def sql_sent(self, connection: Connection, cursor: t.Any, statement: str, *args: t.Any) -> tuple[str, t.Any]:
        """The engine's ``before_cursor_execute`` event: note the statement
        (an engine connection's cursor notes its own), follow the savepoints,
        and give SQLAlchemy's a name no other Connection uses (each numbers
        its own from 1, and MariaDB replaces a savepoint of the same name)."""
        owner = connection.connection.dbapi_connection
        owner = owner if isinstance(owner, _Savepoint) else None
        if owner is None:
            self.note(statement, None)
        if "SAVEPOINT" in statement and (match := _SAVEPOINT.fullmatch(statement)):
            verb, name = match.groups()
            if name.startswith("sa_savepoint_"):
                name += f"_{id(connection):x}"
                statement = f"{verb} {name}"
            self.follow(verb.upper(), name, owner)
        return statement, args[0]

    def note(self, statement: str, owner: _Savepoint | None) -> None:
        """Count ``statement`` for assert_num_queries, and if it writes, note
        ``owner`` in the innermost savepoint, where its writes go."""
        if self.statements is not None and not _TRANSACTION_CONTROL.match(statement):
            self.statements.append(statement)
        if not _READ.match(statement):
            if owner is not None:
                owner.wrote = True
            if self.savepoints:
                self.writers.setdefault(self.savepoints[-1][0], set()).add(owner)

    def follow(self, verb: str, name: str, owner: _Savepoint | None) -> None:
        """Note a savepoint statement that ``owner`` sent on the test's connection."""
        names = [entry[0] for entry in self.savepoints]
        at = names.index(name) if name in names else len(names)  # one sent around the engine: not followed
        work = set().union(*(self.writers.pop(ended, set()) for ended in names[at:]))
        self.named_a_gone_one = name in self.gone
        self.gone.update(names[at + 1 :] if verb != "SAVEPOINT" else ())
        if verb == "SAVEPOINT":
            self.savepoints.append((name, owner))
        elif verb == "RELEASE SAVEPOINT":  # it and every later savepoint merge into the one below
            del self.savepoints[at:]
            if at:
                self.writers.setdefault(names[at - 1], set()).update(work)
        else:  # ROLLBACK TO SAVEPOINT: what was written since it is undone
            if work - {owner}:
                self.overlapped(_UNDONE)
            # SQLAlchemy's savepoint is over once rolled back to (it sends no RELEASE); another one stays.
            del self.savepoints[at + (not name.startswith("sa_savepoint_")) :]

    def overlapped(self, problem: str) -> None:
        """Note a rollback that could not undo one party's work alone, unless the test is over."""
        if not self.ending:
            self._problems.append(problem)

    def _connect(self) -> _Savepoint:
        if os.getpid() != self._pid:
            raise RuntimeError("A forked child cannot join the test's transaction: its connection is the parent's.")
        if self._dbapi_connection is None:
            raise RuntimeError(_BLOCKED)
        savepoint = _Savepoint(self._dbapi_connection, self)
        self._open.append(savepoint)
        return savepoint

    def _closed(self, savepoint: _Savepoint) -> None:
        self._open.remove(savepoint)


_SAVEPOINT = re.compile(r"(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT) +(\w+)\s*", re.IGNORECASE)
# A statement that writes nothing: one of these, without INTO, INSERT, UPDATE, DELETE or MERGE in it.
_READ = re.compile(
    r"\s*(SELECT|WITH|SHOW|EXPLAIN|PRAGMA|DESCRIBE|SAVEPOINT|RELEASE|ROLLBACK|BEGIN|SET)\b"
    r"(?!.*\b(INTO|INSERT|UPDATE|DELETE|MERGE)\b)",
    re.IGNORECASE | re.DOTALL,
)


class _Savepoint(contextlib.AbstractContextManager["_Savepoint"]):
    """A DBAPI connection that ``_TestPool`` hands out during a test: the test's
    own, where a transaction is a savepoint, begun by its first statement and
    ended by ``commit()`` or ``rollback()``; in autocommit mode each statement
    is one. Isolation levels and the drivers' own autocommit switches stay
    here, never reaching the driver. Once closed, or forgotten after its test,
    it refuses."""

    def __init__(self, dbapi_connection: t.Any, pool: _TestPool) -> None:
        self._dbapi_connection = dbapi_connection
        self._pool: _TestPool | None = pool
        self._name: str | None = None
        self._autocommit = pool.autocommit
        self.wrote = False  # since its savepoint began

    def __getattr__(self, name: str) -> t.Any:
        value = getattr(self._dbapi_connection, name)
        if name == "autocommit":  # PyMySQL's and mysqlclient's autocommit(on), psycopg's attribute
            return self._set_autocommit if callable(value) else self._autocommit
        return value

    def __setattr__(self, name: str, value: t.Any) -> None:
        if name in ("autocommit", "isolation_level"):  # psycopg's and sqlite3's switches
            name, value = "_autocommit", value is True or (name == "isolation_level" and value is None)
        object.__setattr__(self, name, value)

    def __exit__(self, error_type: object, *args: object) -> None:
        # As sqlite3's and psycopg2's own connections do.
        self.rollback() if error_type else self.commit()

    def set_isolation_level(self, level: int) -> None:
        """psycopg2's: level 0 is its autocommit; the others are the test's own."""
        self._autocommit = level == 0

    def _set_autocommit(self, on: bool) -> None:
        self._autocommit = on

    def cursor(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        self._begun()
        return _Cursor(self._dbapi_connection.cursor(*args, **kwargs), self)

    def execute(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        """sqlite3's and psycopg's shortcut, on a cursor of ours."""
        return self.cursor().execute(*args, **kwargs)

    def transaction(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        """psycopg's own transaction block, inside this connection's savepoint
        (begun first, so that psycopg's nests in it)."""
        self._begun()
        return self._dbapi_connection.transaction(*args, **kwargs)

    # In autocommit mode no savepoint is open between statements: both do nothing, as the drivers' do.
    def commit(self) -> None:
        self._end(rollback=False)

    def rollback(self) -> None:
        self._end(rollback=True)

    def close(self) -> None:
        if (pool := self._pool) is not None:
            self.forget()
            pool._closed(self)

    def forget(self) -> None:
        """Roll back what it left open, then send nothing more: the connection,
        or its test, is over."""
        with contextlib.suppress(Exception):  # _end noted it
            self.rollback()
        self._pool = None

    def _begun(self) -> None:
        if self._name is None and not self._autocommit:
            self._begin()

    def _begin(self) -> None:
        if self._pool is None:
            raise RuntimeError(_LEFT_OPEN)
        self._name = f"test_engine_{next(self._pool._names)}"
        self._send("SAVEPOINT", self._name)

    def _end(self, *, rollback: bool) -> None:
        name, self._name, pool, wrote, self.wrote = self._name, None, self._pool, self.wrote, False
        if name is None or pool is None:
            return
        names = [entry[0] for entry in pool.savepoints]
        at = names.index(name) if name in names else len(names)
        # Released with an older savepoint (a Session committed), or another party's savepoint is open above
        # it: ending it would end theirs. Else it may hold what others committed into it, which it must keep.
        alone = at < len(names) and all(owner is self for _, owner in pool.savepoints[at + 1 :])
        others = set().union(*(pool.writers.get(held, set()) for held in names[at:])) - {self}
        if rollback and wrote and (others or not alone):
            pool.overlapped(_KEPT)
        if alone:
            try:
                if rollback and wrote and not others:
                    self._send("ROLLBACK TO SAVEPOINT", name)
                self._send("RELEASE SAVEPOINT", name)
            except Exception as error:  # noted here: the pool's reset would only log it
                pool._problems.append(_ENDED.format(error))
                raise

    def _send(self, verb: str, name: str) -> None:
        with contextlib.closing(self._dbapi_connection.cursor()) as cursor:
            cursor.execute(f"{verb} {name}")
        t.cast(_TestPool, self._pool).follow(verb, name, self)


class _Cursor(contextlib.AbstractContextManager["_Cursor"]):
    """A cursor of a ``_Savepoint``'s: it notes each statement for the pool,
    puts each in a savepoint of its own in autocommit mode, and lets the
    BEGIN of SQLAlchemy's pysqlite recipe do nothing (the savepoint is the
    transaction)."""

    def __init__(self, cursor: t.Any, savepoint: _Savepoint) -> None:
        object.__setattr__(self, "_cursor", cursor)
        object.__setattr__(self, "_savepoint", savepoint)

    def __getattr__(self, name: str) -> t.Any:
        return getattr(self._cursor, name)

    def __setattr__(self, name: str, value: t.Any) -> None:  # row_factory, arraysize: the driver's cursor's
        setattr(self._cursor, name, value)

    def __iter__(self) -> t.Iterator[t.Any]:
        return iter(self._cursor)

    def __exit__(self, *args: object) -> None:
        self._cursor.close()

    def execute(self, statement: str, *args: t.Any, **kwargs: t.Any) -> t.Any:
        return self._send(self._cursor.execute, statement, *args, **kwargs)

    def executemany(self, statement: str, *args: t.Any, **kwargs: t.Any) -> t.Any:
        return self._send(self._cursor.executemany, statement, *args, **kwargs)

    def _send(self, method: t.Callable[..., t.Any], statement: str, *args: t.Any, **kwargs: t.Any) -> t.Any:
        savepoint = self._savepoint
        if savepoint._pool is None:
            raise RuntimeError(_LEFT_OPEN)
        if statement.strip().upper() == "BEGIN" and isinstance(self._cursor, sqlite3.Cursor):
            return self
        if savepoint._autocommit:
            savepoint._begin()
        savepoint._pool.note(statement, savepoint)
        try:
            result = method(statement, *args, **kwargs)
        except Exception as error:
            if savepoint._autocommit:
                savepoint.wrote = True  # a failed statement is undone (on PostgreSQL it aborted the transaction)
                savepoint._end(rollback=True)
            if re.search(r"(inside|within) a transaction", str(error)):  # VACUUM, CREATE INDEX CONCURRENTLY
                raise RuntimeError(_NO_TRANSACTION.format(error)) from error
            raise
        if savepoint._autocommit:
            savepoint._end(rollback=False)
        return result


# -- Contexts: one per request and per CLI command, none left behind --------
#
# Flask has no public way to tell which contexts are pushed, or to make a
# request push an app context of its own on Flask <= 3.1: these use its
# context variables (Flask 2.3 to 3.2), and each use is tested on each.
_cv_app: ContextVar[AppContext] = flask.globals._cv_app
_cv_request: ContextVar[t.Any] | None = getattr(flask.globals, "_cv_request", None)  # None on Flask 3.2


def _current_request_context() -> t.Any:
    """The current request context on Flask <= 3.1 (None on 3.2, whose app contexts are request contexts)."""
    return _cv_request.get(None) if _cv_request is not None else None


def _pop_contexts_above(context: AppContext, request: object) -> list[str]:
    """Pop every app context the test left pushed above ``context``, and on
    Flask <= 3.1 every request context above ``request``, running their
    teardowns; say what was left."""
    problems: list[str] = []
    left = shared = 0
    while (top := _cv_app.get(None)) is not None and top is not context and left < 100:
        left += 1
        owner = _RequestContextOfItsOwn.owner_of(top) if _RequestContextOfItsOwn is not None else None
        _pop(owner or top, problems)
    # Requests that shared the test's app context (requests_share_context) pushed none of their own.
    while (top := _current_request_context()) is not request and shared < 100:
        shared += 1
        _pop(top, problems)
    if left:
        problems.insert(0, f"The test left {left} app context(s) pushed: pop every context it pushes.")
    if shared:
        problems.insert(0, f"The test left {shared} request context(s) pushed: pop every context it pushes.")
    return problems


def _pop(context: t.Any, problems: list[str]) -> None:
    try:
        context.pop()
    except Exception as error:  # noqa: BLE001 (their teardown functions may raise anything)
        problems.append(f"Popping it raised {_describe(error)}.")


def _describe(error: BaseException) -> str:
    """``error``, or the errors inside it: Flask >= 3.2 runs every teardown
    function and raises what they raised as (nested) exception groups."""
    inner = getattr(error, "exceptions", None)
    return ", ".join(_describe(e) for e in inner) if inner else repr(error)


def _cli_runner_of_its_own_context() -> type[t.Any]:
    """``app.test_cli_runner_class`` while a TestConnection is open."""
    from flask.testing import FlaskCliRunner  # here, not above: click's test runner imports pdb

    class CliRunnerOfItsOwnContext(FlaskCliRunner):
        """``app.test_cli_runner()`` while a TestConnection is open: each
        ``invoke()`` runs the command in an app context of its own, with a
        Session of its own that joins the test's transaction, as ``flask
        <command>`` does.

        Flask's ``with_appcontext`` pushes a context only when none is current,
        so with Flask's own runner a command in a test would run in the test's
        context, on the test's Session: a command that forgot to commit would
        still pass.
        """

        def invoke(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
            hidden = _cv_app.set(None)  # type: ignore[arg-type]
            try:
                with self.app.app_context():
                    return super().invoke(*args, **kwargs)
            finally:
                _cv_app.reset(hidden)

    return CliRunnerOfItsOwnContext


_RequestContextOfItsOwn: t.Any = None

if "RequestContext" in vars(flask.ctx):  # pragma: no branch (Flask <= 3.1; 3.2 pushes an app context per request)

    class _RequestContextOfItsOwnClass(flask.ctx.RequestContext):
        """A request context that always pushes an app context of its own.

        Flask <= 3.1 reuses an app context that is already pushed, so a test
        client request inside the test's context would run on the test's
        Session. Hiding that context while this one is pushed gives every
        request its own app context and Session, as Flask 3.2 does. Pushed
        again on the app context it made (``with client:`` keeps both after
        the request), it hides nothing, and that context's ``g`` is current.
        """

        def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
            super().__init__(*args, **kwargs)
            self._made: AppContext | None = None  # the app context its first push made
            self._hidden: list[tuple[Token[AppContext] | None, AppContext]] = []

        def push(self) -> None:
            made = self._made is not None and _cv_app.get(None) is self._made
            hidden = None if made else _cv_app.set(None)  # type: ignore[arg-type]
            super().push()
            self._made = self._made or _cv_app.get()
            self._hidden.append((hidden, _cv_app.get()))

        def pop(self, *args: t.Any, **kwargs: t.Any) -> None:
            try:
                super().pop(*args, **kwargs)
            finally:
                if (hidden := self._hidden.pop()[0]) is not None:
                    _cv_app.reset(hidden)

        @staticmethod
        def owner_of(app_context: AppContext) -> flask.ctx.RequestContext | None:
            """The current request context if it pushed ``app_context``."""
            request = _current_request_context()
            hidden = getattr(request, "_hidden", None)  # only ours have it
            return request if hidden and hidden[-1][1] is app_context else None

    _RequestContextOfItsOwn = _RequestContextOfItsOwnClass


# -- The run's own database --------------------------------------------------


class TestDatabase:
    """The test run's own database, beside the one ``url`` names, which the
    tests never touch.

    :meth:`open` takes the first free slot of ``<name>_run0``,
    ``<name>_run1``, ...: a run (or each pytest-xdist worker) holds a lock on
    its slot while it lives, which the server or the kernel releases however
    it dies (a PostgreSQL advisory lock or a MariaDB ``GET_LOCK`` on a
    connection to the named database, ``flock`` on an SQLite file). A free
    slot's database, left by an earlier run, is reused, emptied; a live
    run's is never touched. A slot whose database this module did not make is
    skipped. SQLite in-memory URLs are used as they are.

    :param url: The database URL the tests are configured with.
    :raises TestSetupError: a URL that does not parse, an unsupported
        backend, a driver that is not installed, a server URL without a
        database name, an SQLite file in a folder that does not exist, a
        server that cannot be reached or refuses the user, a database that
        does not exist; from :meth:`open`, a user who may not make the run's
        database. The message says what to do.
    """

    __test__ = False

    def __init__(self, url: str | URL) -> None:
        self.named = _parsed(url, "The test database URL", TestSetupError)
        self.backend = self.named.get_backend_name()
        if self.backend not in ("sqlite", "postgresql", "mysql", "mariadb"):
            raise TestSetupError(
                f"The test database URL names a {self.backend!r} database: flask_scoped_db creates test databases"
                " on SQLite, PostgreSQL and MariaDB/MySQL only. Point it at one of those."
            )
        try:
            self.named.get_dialect().import_dbapi()
        except (ImportError, NoSuchModuleError) as error:
            raise TestSetupError(
                f"The test database URL names the driver {self.named.drivername!r}, which cannot be loaded ({error}):"
                " install its package (psycopg[binary] for postgresql+psycopg, PyMySQL for mysql+pymysql)."
            ) from None
        self.url = self.named
        """The URL of the run's database, once :meth:`open` has chosen it."""
        self.memory = self.backend == "sqlite" and _is_sqlite_memory(self.named)
        name = self.named.database or ""
        if self.backend == "sqlite" and not self.memory and not (folder := Path(name).resolve().parent).is_dir():
            raise TestSetupError(
                f"The test database URL names an SQLite file in {folder}, a folder that does not exist: create it,"
                " or name a file in a folder that exists."
            )
        if self.backend != "sqlite" and not name:
            raise TestSetupError(
                f"The test database URL {_masked(self.named)!r} names no database: add the name of one that exists"
                " (.../test): the tests make their own beside it."
            )
        # Cut so that <stem>_run99 fits PostgreSQL's 63 bytes (and MariaDB's 64 characters): slots stay distinct.
        self._stem = (Path(name).stem if self.backend == "sqlite" else name).encode()[:57].decode(errors="ignore")
        # The connection that holds the slot's lock (a file on SQLite); on a
        # server, made now: a wrong URL or user, a missing database are said
        # before any test, and the connection serves open().
        self._lock: t.Any = None if self.memory or self.backend == "sqlite" else self._server()

    def open(self, *, fresh: bool = False) -> URL:
        """Take a slot, make its database ready and empty, return its URL.

        :param fresh: Drop and create the slot's database even if an
            earlier run left one (``pytest --create-db``).
        """
        if self.memory:
            _open_test_databases.add(self)
            return self.url
        for slot in range(100):
            name = f"{self._stem}_run{slot}"
            if self._take(name):
                if self._empty_sqlite_file() if self.backend == "sqlite" else self._reuse(name, fresh):
                    _open_test_databases.add(self)
                    return self.url
                self.close()
        raise TestSetupError(f"100 live runs, or databases not made by one, hold {self._stem}_run0 to _run99.")

    def close(self) -> None:
        """Release the slot. Its database stays, for the next run to reuse."""
        _open_test_databases.discard(self)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _take(self, name: str) -> bool:
        """Lock the slot ``name`` if it is free."""
        if self.backend == "sqlite":
            import fcntl  # POSIX only; imported here so that the module imports on Windows

            path = Path(self.named.database or "").resolve().with_stem(name)
            lock = open(path, "a")  # noqa: SIM115 (held until close)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                return False
            self._lock, self.url = lock, self.named.set(database=str(path))
            return True
        server = self._lock = self._lock or self._server()
        if self.backend == "postgresql":
            sql = "SELECT pg_try_advisory_lock(hashtext('flask_scoped_db'), hashtext(%(name)s))"
        else:
            sql = "SELECT GET_LOCK(%(name)s, 0)"
        if server.exec_driver_sql(sql, {"name": name}).scalar() in (True, 1):
            self.url = self.named.set(database=name)
            return True
        return False

    def _reuse(self, name: str, fresh: bool) -> bool:
        """Create the slot's database, or empty the one an earlier run left (on
        MariaDB, make it anew); False if a database of that name is not ours.
        It takes the named database's character set and collation (MariaDB),
        or the names of its schemas, empty (PostgreSQL)."""
        server: Connection = self._lock
        quote = server.dialect.identifier_preparer.quote
        if self.backend == "postgresql":
            mark = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %(name)s"
            create = [f"CREATE DATABASE {quote(name)}", f"COMMENT ON DATABASE {quote(name)} IS '{_MARK}'"]
            drop = f"DROP DATABASE {quote(name)} WITH (FORCE)"
        else:
            mark = "SELECT schema_comment FROM information_schema.schemata WHERE schema_name = %(name)s"
            charset, collation = server.exec_driver_sql("SELECT @@character_set_database, @@collation_database").one()
            create = [f"CREATE DATABASE {quote(name)} CHARACTER SET {charset} COLLATE {collation} COMMENT '{_MARK}'"]
            drop = f"DROP DATABASE {quote(name)}"
        found = server.exec_driver_sql(mark, {"name": name}).first()
        if found is not None and found[0] != _MARK:
            return False
        try:
            if found is None or fresh or self.backend != "postgresql":  # PostgreSQL empties one much faster
                for statement in [drop, *create] if found is not None else create:
                    server.exec_driver_sql(statement)
            if self.backend == "postgresql":
                schemas = "".join(f"; CREATE SCHEMA {quote(s)}" for s in server.exec_driver_sql(_SCHEMAS).scalars())
                with create_engine(self.url, poolclass=NullPool).begin() as connection:
                    connection.exec_driver_sql(_EMPTY_POSTGRESQL + schemas)
        except DBAPIError as error:
            user = self.named.username
            raise TestSetupError(
                f"The user {user!r} may not make the run's database {name} ({error.orig}): grant it the right to create"
                f" databases (PostgreSQL: ALTER ROLE {user} CREATEDB; MariaDB: GRANT ALL ON `{self._stem}_run%`.* TO"
                f" {user}), or point the test database URL at a user that has it."
            ) from None
        return True

    def _empty_sqlite_file(self) -> bool:
        """Empty the slot's file, and mark it as ours (SQLite's
        ``application_id``, bytes 68 to 71 of the file's header); False if it
        holds a database that is not ours."""
        path = self.url.database or ""
        with open(path, "rb") as file:
            header = file.read(72)
        if header and header[68:72] != _SQLITE_MARK.to_bytes(4, "big"):
            return False
        for suffix in ("-journal", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
        os.truncate(path, 0)
        with contextlib.closing(sqlite3.connect(path)) as marking:
            marking.execute(f"PRAGMA application_id = {_SQLITE_MARK}")
        return True

    def _server(self) -> Connection:
        """An AUTOCOMMIT connection to the named database, or a TestSetupError
        that says what is wrong."""
        engine = create_engine(self.named, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        try:
            return engine.connect()
        except DBAPIError as error:
            raise TestSetupError(_setup_error(self.named, error)) from None


_MARK = "made by flask_scoped_db for test runs"
# Every schema but the system's: the run's database has the named one's (by name), dropped (with what the
# models' DDL events made) and made again for each run. No percent signs: the drivers read them as placeholders.
_SCHEMAS = "SELECT nspname FROM pg_namespace WHERE nspname <> 'information_schema' AND left(nspname, 3) <> 'pg_'"
_EMPTY_POSTGRESQL = (
    f"DO $$DECLARE s text; BEGIN FOR s IN {_SCHEMAS} LOOP EXECUTE 'DROP SCHEMA ' || quote_ident(s) || ' CASCADE';"
    " END LOOP; END$$"
)
_SQLITE_MARK = 0x46534442  # "FSDB"


def _setup_error(named: URL, error: DBAPIError) -> str:
    """What went wrong connecting to ``named``, and what to do about it."""
    server = _masked(named._replace(database=None))  # set() keeps what is None
    message = str(error.orig)
    number = (getattr(error.orig, "args", None) or [None])[0]  # the MariaDB drivers' error number
    if number == 1049 or re.search(r'database ".*" does not exist', message):
        return (
            f"The test database URL names the database {named.database!r}, which does not exist on {server}."
            f" Create it (CREATE DATABASE {named.database}), or name any database that exists there:"
            " the tests only create their own beside it."
        )
    if number in (1044, 1045, 1698) or re.search(r'role ".*" does not exist|authentication failed', message):
        return f"{server} refused the user {named.username!r} ({message}): check the user and password in the URL."
    return (
        f"Cannot reach {server} for the tests ({error.orig}): start the server, or point"
        " the test database URL at one that runs."
    )
