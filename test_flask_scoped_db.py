"""Tests for flask_scoped_db and for the fixture pair in conftest.py.

They run against the database that TEST_DATABASE_URL names (default: an SQLite
file); .ci/run runs them on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import ast
import asyncio
import concurrent.futures
import contextlib
import contextvars
import gc
import io
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import tokenize
import typing as t
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from flask import Blueprint
from flask import Flask
from flask import Response
from flask import g
from flask import session as flask_session
from flask import stream_with_context
from flask.testing import FlaskClient
from sqlalchemy import URL
from sqlalchemy import Engine
from sqlalchemy import MetaData
from sqlalchemy import String
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import make_url
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.exc import StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import QueryPropertyDescriptor
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship
from sqlalchemy.orm import scoped_session
from sqlalchemy.pool import NullPool
from sqlalchemy.pool import StaticPool
from werkzeug.exceptions import NotFound

import flask_scoped_db
from conftest import Item
from conftest import create_app
from conftest import db
from flask_scoped_db import ScopedDB
from flask_scoped_db import TestConnection
from flask_scoped_db import TestDatabase
from flask_scoped_db import TestFailure
from flask_scoped_db import TestSetupError
from flask_scoped_db import check_version

FLASK = tuple(int(part) for part in version("flask").split(".")[:3])
BACKEND = make_url(os.environ["TEST_DATABASE_URL"]).get_backend_name()
DRIVER = make_url(os.environ["TEST_DATABASE_URL"]).get_dialect().driver
IS_SQLITE_MEMORY = BACKEND == "sqlite" and make_url(os.environ["TEST_DATABASE_URL"]).database in (None, "", ":memory:")


class NoteBase(DeclarativeBase):
    query: t.ClassVar[QueryPropertyDescriptor]


class Note(NoteBase):
    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(50), unique=True)


class CheckedOut:
    """Counts an engine's connections out of its pool, for every pool class."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "checkin", self._checkin)

    def _checkout(self, *args: t.Any) -> None:
        self.count += 1

    def _checkin(self, *args: t.Any) -> None:
        self.count -= 1


@pytest.fixture
def make_app(tmp_path: Path) -> t.Iterator[t.Callable[..., Flask]]:
    """Makes apps on TEST_DATABASE_URL (config overridable), disposing their engines after the test."""
    made: list[tuple[Flask, ScopedDB]] = []

    def make(db: ScopedDB, **config: t.Any) -> Flask:
        app = Flask(f"app{len(made)}", instance_path=str(tmp_path / f"instance{len(made)}"))
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["TEST_DATABASE_URL"]
        app.config.update(config)
        db.init_app(app)
        made.append((app, db))
        return app

    yield make
    for app, app_db in made:
        with app.app_context():
            app_db.engine.dispose()


NOTES_DB = ScopedDB(model_class=NoteBase)


@pytest.fixture
def notes_db() -> ScopedDB:
    """The ScopedDB on NoteBase (a model_class serves one ScopedDB); each test's apps are its own."""
    return NOTES_DB


@pytest.fixture
def notes_app(make_app: t.Callable[..., Flask], notes_db: ScopedDB) -> t.Iterator[Flask]:
    """An app whose note table exists for the test, outside any test transaction."""
    app = make_app(notes_db)
    with app.app_context():
        notes_db.create_all()
    yield app
    with app.app_context():
        notes_db.drop_all()


# -- One Session per app context -----------------------------------------------


def test_session_is_the_same_for_the_whole_context(notes_app: Flask, notes_db: ScopedDB) -> None:
    """Within one app context db.session is always the same Session."""
    with notes_app.app_context():
        assert notes_db.session() is notes_db.session()


def test_next_context_gets_a_new_session(notes_app: Flask, notes_db: ScopedDB) -> None:
    """A later app context never sees an earlier context's Session."""
    with notes_app.app_context():
        first = notes_db.session()
    with notes_app.app_context():
        assert notes_db.session() is not first


def test_nested_app_context_gets_its_own_session(notes_app: Flask, notes_db: ScopedDB) -> None:
    """A nested app.app_context() block has its own Session, and the outer one's comes back after it."""
    with notes_app.app_context():
        outer = notes_db.session()
        with notes_app.app_context():
            assert notes_db.session() is not outer
        assert notes_db.session() is outer


def test_concurrent_threads_get_distinct_sessions(notes_app: Flask, notes_db: ScopedDB) -> None:
    """Threads with app contexts open at the same time hold distinct Sessions."""
    barrier = threading.Barrier(4)
    sessions: list[Session] = []

    def work() -> None:
        with notes_app.app_context():
            session = notes_db.session()
            barrier.wait(timeout=10)
            sessions.append(session)
            barrier.wait(timeout=10)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(s) for s in sessions}) == 4


def test_async_view_uses_its_requests_session(notes_app: Flask, notes_db: ScopedDB) -> None:
    """An async view sees its own request's Session, before and after an await, and not another request's."""
    seen: list[tuple[Session, Session, Session]] = []

    @notes_app.before_request
    def before() -> None:
        notes_app.config.setdefault("SEEN", []).append(notes_db.session())

    @notes_app.get("/async")
    async def view() -> str:
        first = notes_db.session()
        await asyncio.sleep(0)
        seen.append((notes_app.config["SEEN"][-1], first, notes_db.session()))
        return "ok"

    client = notes_app.test_client()
    assert client.get("/async").status_code == 200
    assert client.get("/async").status_code == 200
    (before_1, first_1, after_1), (before_2, first_2, after_2) = seen
    assert before_1 is first_1 is after_1
    assert before_2 is first_2 is after_2
    assert first_1 is not first_2


def test_outside_an_app_context_flask_raises_its_own_error(notes_db: ScopedDB) -> None:
    """Using db.session with no app context raises Flask's "Working outside of application context."."""
    with pytest.raises(RuntimeError, match="Working outside of application context"):
        notes_db.session.execute(select(1))


# -- Teardown and the pool ---------------------------------------------------


def test_teardown_closes_the_session_and_returns_its_connection(notes_app: Flask, notes_db: ScopedDB) -> None:
    """When the context ends its Session is closed and the connection is back in the pool."""
    with notes_app.app_context():
        checked_out = CheckedOut(notes_db.engine)
        notes_db.session.add(Note(text="pending"))
        notes_db.session.flush()
        session = notes_db.session()
        assert checked_out.count == 1
    assert checked_out.count == 0
    assert not session.in_transaction() and list(session) == []


def test_calling_db_session_with_options_makes_the_contexts_session(notes_app: Flask, notes_db: ScopedDB) -> None:
    """db.session(autoflush=False) makes the context's Session with that option; db.session is that
    Session for the rest of the context, and the next context gets a new one."""
    with notes_app.app_context():
        session = notes_db.session(autoflush=False)
        assert notes_db.session() is session and not session.autoflush
    with notes_app.app_context():
        assert notes_db.session() is not session and notes_db.session().autoflush


def test_failing_requests_leave_no_connection_checked_out(notes_app: Flask, notes_db: ScopedDB) -> None:
    """500 requests, one in five raising after its query, leave every connection back in the pool."""

    @notes_app.get("/<int:n>")
    def view(n: int) -> str:
        count = notes_db.session.scalar(select(func.count()).select_from(Note))
        if n % 5 == 0:
            raise RuntimeError("the view failed")
        return str(count)

    with notes_app.app_context():
        checked_out = CheckedOut(notes_db.engine)
    client = notes_app.test_client()
    statuses = [client.get(f"/{n}").status_code for n in range(500)]
    assert statuses.count(500) == 100 and statuses.count(200) == 400
    assert checked_out.count == 0


def test_a_raising_foreign_teardown_hands_out_no_stale_session(
    notes_app: Flask, notes_db: ScopedDB, no_cyclic_gc: None
) -> None:
    """After another extension's teardown raised (before ours, on Flask <= 3.1), 100 new contexts get
    100 new Sessions, and the skipped context's Session is closed, its connection back in the pool,
    as soon as that context is gone: no cyclic garbage collection needed."""

    @notes_app.teardown_appcontext
    def failing_teardown(exc: BaseException | None) -> None:
        if notes_app.config.get("FAIL_TEARDOWN"):
            raise RuntimeError("another extension's teardown failed")

    with notes_app.app_context():
        checked_out = CheckedOut(notes_db.engine)
    notes_app.config["FAIL_TEARDOWN"] = True
    with pytest.raises(Exception) as raised, notes_app.app_context():  # Flask 3.2 raises a group
        skipped = notes_db.session()
        skipped.execute(select(1))
    assert any("another extension" in message for message in raised_messages(raised.value))
    del raised
    notes_app.config["FAIL_TEARDOWN"] = False
    assert checked_out.count == 0
    assert not skipped.in_transaction()
    stale = 0
    for _ in range(100):
        with notes_app.app_context():
            stale += notes_db.session() is skipped
    assert stale == 0


# -- Engines -------------------------------------------------------------------


def test_engine_is_the_current_apps(make_app: t.Callable[..., Flask]) -> None:
    """One ScopedDB serves several apps, each context on its own app's engine."""
    db = ScopedDB()
    first, second = make_app(db), make_app(db, SQLALCHEMY_DATABASE_URI="sqlite://")
    with first.app_context():
        first_engine = db.engine
        assert db.session.get_bind() is first_engine
    with second.app_context():
        assert db.engine is not first_engine
        assert db.session.get_bind() is db.engine
        assert db.engine.url.render_as_string() == "sqlite://"


def test_config_engine_options_win_over_the_constructors(make_app: t.Callable[..., Flask]) -> None:
    """SQLALCHEMY_ENGINE_OPTIONS overrides engine_options key by key; the other keys stay."""
    db = ScopedDB(engine_options={"hide_parameters": True, "execution_options": {"from": "constructor"}})
    app = make_app(db, SQLALCHEMY_ENGINE_OPTIONS={"execution_options": {"from": "config"}})
    with app.app_context():
        assert db.engine.hide_parameters is True
        assert db.engine.get_execution_options() == {"from": "config"}


def test_sqlite_memory_database_is_shared_by_every_context_and_thread(make_app: t.Callable[..., Flask]) -> None:
    """An SQLite :memory: URL gets one connection for all, so a table made in one thread is seen in another."""
    db = ScopedDB()
    app = make_app(db, SQLALCHEMY_DATABASE_URI="sqlite://")
    with app.app_context():
        assert isinstance(db.engine.pool, StaticPool)
        db.session.execute(text("CREATE TABLE shared (x INTEGER)"))
        db.session.commit()
    seen: list[int] = []

    def read() -> None:
        with app.app_context():
            seen.append(db.session.scalar(text("SELECT count(*) FROM shared")) or 0)

    thread = threading.Thread(target=read)
    thread.start()
    thread.join()
    assert seen == [0]


def memory_app(make_app: t.Callable[..., Flask], db: ScopedDB, pool_timeout: float = 10) -> Flask:
    """An app on its own in-memory database, with a rows table, whatever TEST_DATABASE_URL names."""
    app = make_app(db, SQLALCHEMY_DATABASE_URI="sqlite://", SQLALCHEMY_ENGINE_OPTIONS={"pool_timeout": pool_timeout})
    with app.app_context():
        db.session.execute(text("CREATE TABLE rows (name TEXT)"))
        db.session.commit()
    return app


def run_in_threads(*targets: t.Callable[[], object]) -> list[BaseException]:
    """Run each target in a thread of its own, all at once; return what they raised."""
    errors: list[BaseException] = []

    def run(target: t.Callable[[], object]) -> None:
        try:
            target()
        except BaseException as error:  # noqa: BLE001 (reported by the test)
            errors.append(error)

    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return errors


@contextlib.contextmanager
def held_by_another_thread(app: Flask, db: ScopedDB) -> t.Iterator[None]:
    """For the block, another thread's context holds ``app``'s connection: its Session is in a transaction."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with app.app_context():
            db.session.execute(text("SELECT 1"))
            held.set()
            release.wait(timeout=30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(timeout=30)
        yield
    finally:
        release.set()
        thread.join(timeout=30)


def test_sqlite_memory_concurrent_contexts_keep_their_transactions_apart(make_app: t.Callable[..., Flask]) -> None:
    """On an in-memory database, one thread's commit leaves another's pending row out, whose rollback undoes it."""
    db = ScopedDB()
    app = memory_app(make_app, db)
    first_wrote, second_committed = threading.Event(), threading.Event()

    def first() -> None:
        with app.app_context():
            db.session.execute(text("INSERT INTO rows VALUES ('first')"))
            first_wrote.set()
            second_committed.wait(timeout=0.5)  # ample for the second's commit, unless it waits for this rollback
            db.session.rollback()

    def second() -> None:
        assert first_wrote.wait(timeout=10)
        with app.app_context():
            db.session.execute(text("INSERT INTO rows VALUES ('second')"))
            db.session.commit()
        second_committed.set()

    assert run_in_threads(first, second) == []
    with app.app_context():
        assert db.session.scalars(text("SELECT name FROM rows")).all() == ["second"]


def test_sqlite_memory_context_uses_db_session_and_db_engine_together(make_app: t.Callable[..., Flask]) -> None:
    """On an in-memory database, db.engine in a context whose Session holds the connection shares it, not waits."""
    db = ScopedDB()
    app = memory_app(make_app, db, pool_timeout=1)
    with app.app_context():
        db.session.execute(text("INSERT INTO rows VALUES ('pending')"))
        with db.engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM rows")) == 1


def test_sqlite_memory_nested_app_context_shares_the_outer_ones_connection(make_app: t.Callable[..., Flask]) -> None:
    """On an in-memory database, a nested app context's Session shares the connection the outer one's holds."""
    db = ScopedDB()
    app = memory_app(make_app, db, pool_timeout=1)
    with app.app_context():
        db.session.execute(text("INSERT INTO rows VALUES ('pending')"))
        with app.app_context():
            assert db.session.scalar(text("SELECT count(*) FROM rows")) == 1


def test_sqlite_memory_async_view_shares_its_requests_connection(make_app: t.Callable[..., Flask]) -> None:
    """On an in-memory database, an async view (another thread) uses db.engine while its request's Session holds it."""
    db = ScopedDB()
    app = memory_app(make_app, db, pool_timeout=1)

    @app.before_request
    def begin() -> None:
        db.session.execute(text("INSERT INTO rows VALUES ('pending')"))

    @app.get("/")
    async def view() -> str:
        with db.engine.connect() as connection:
            return str(connection.scalar(text("SELECT count(*) FROM rows")))

    assert app.test_client().get("/").text == "1"


def test_sqlite_memory_work_run_in_the_contexts_copy_shares_its_connection(make_app: t.Callable[..., Flask]) -> None:
    """On an in-memory database, work that a context holding the connection hands to a thread pool in a copy of
    itself (contextvars.copy_context().run) shares the connection, not waits for it."""
    db = ScopedDB()
    app = memory_app(make_app, db, pool_timeout=1)

    def count() -> int:
        with db.engine.connect() as connection:
            return int(connection.scalar(text("SELECT count(*) FROM rows")) or 0)

    with app.app_context(), concurrent.futures.ThreadPoolExecutor(1) as executor:
        db.session.execute(text("INSERT INTO rows VALUES ('pending')"))
        assert executor.submit(contextvars.copy_context().run, count).result(timeout=30) == 1


def test_sqlite_memory_connection_closed_in_another_thread_is_free_again(make_app: t.Callable[..., Flask]) -> None:
    """An in-memory database's connection taken in one thread and closed in another (as by the garbage
    collector) can be taken by a third."""
    db = ScopedDB()
    app = memory_app(make_app, db, pool_timeout=1)
    with app.app_context():
        engine = db.engine
    taken: list[t.Any] = []
    assert run_in_threads(lambda: taken.append(engine.connect())) == []
    taken[0].close()
    assert run_in_threads(lambda: engine.connect().close()) == []


def test_sqlite_memory_connection_is_free_after_a_connect_that_failed(make_app: t.Callable[..., Flask]) -> None:
    """When making an in-memory database's one connection fails, the next checkout connects, without waiting."""
    db = ScopedDB()
    attempts: list[int] = []

    def connect() -> sqlite3.Connection:
        attempts.append(1)
        if len(attempts) == 1:
            raise sqlite3.OperationalError("the first connect fails")
        return sqlite3.connect(":memory:", check_same_thread=False)

    app = make_app(
        db, SQLALCHEMY_DATABASE_URI="sqlite://", SQLALCHEMY_ENGINE_OPTIONS={"creator": connect, "pool_timeout": 1}
    )
    with app.app_context():
        with pytest.raises(Exception, match="the first connect fails"):
            db.engine.connect()
        with db.engine.connect() as connection:
            assert connection.scalar(select(1)) == 1


def test_sqlite_memory_keeps_a_poolclass_of_your_own(make_app: t.Callable[..., Flask]) -> None:
    """An in-memory database's engine keeps the poolclass the app configured, unchanged."""
    db = ScopedDB()
    app = make_app(db, SQLALCHEMY_DATABASE_URI="sqlite://", SQLALCHEMY_ENGINE_OPTIONS={"poolclass": StaticPool})
    with app.app_context():
        assert type(db.engine.pool) is StaticPool


@pytest.mark.parametrize("pool_timeout", [0.1, 0])
def test_sqlite_memory_timeout_says_what_holds_the_connection(
    make_app: t.Callable[..., Flask], pool_timeout: float
) -> None:
    """Waiting pool_timeout seconds (0: not at all) for an in-memory database that another thread holds raises
    an error that says so and what to do."""
    db = ScopedDB()
    app = memory_app(make_app, db, pool_timeout=pool_timeout)
    with held_by_another_thread(app, db), app.app_context():
        message = rf"Waited {pool_timeout}s .* another thread holds .* `flask run --without-threads`, or use a file"
        with pytest.raises(PoolTimeoutError, match=message):
            db.session.execute(text("SELECT 1"))


def test_sqlite_memory_pool_timeout_outlasts_engine_dispose(make_app: t.Callable[..., Flask]) -> None:
    """engine.dispose() (as after a fork) keeps an in-memory database's pool_timeout."""
    db = ScopedDB()
    app = memory_app(make_app, db, pool_timeout=0.1)
    with app.app_context():
        db.engine.dispose()
    with held_by_another_thread(app, db), app.app_context(), pytest.raises(PoolTimeoutError, match=r"^Waited 0\.1s"):
        db.session.execute(text("SELECT 1"))


def test_relative_sqlite_path_is_in_the_instance_folder(make_app: t.Callable[..., Flask]) -> None:
    """sqlite:///name.db is created in app.instance_path, which is made if missing."""
    db = ScopedDB()
    app = make_app(db, SQLALCHEMY_DATABASE_URI="sqlite:///relative.db")
    assert not os.path.exists(app.instance_path) or os.listdir(app.instance_path) == []
    with app.app_context():
        db.session.execute(text("CREATE TABLE t (x INTEGER)"))
        db.session.commit()
        assert db.engine.url.database == os.path.join(app.instance_path, "relative.db")
    assert os.path.exists(os.path.join(app.instance_path, "relative.db"))


def test_sqlite_uri_filenames_are_left_as_written(make_app: t.Callable[..., Flask]) -> None:
    """An SQLite URI filename (uri=true) is the driver's to resolve, not moved into the instance folder."""
    db = ScopedDB()
    app = make_app(db, SQLALCHEMY_DATABASE_URI="sqlite:///file:relative.db?mode=ro&uri=true")
    with app.app_context():
        assert db.engine.url.database == "file:relative.db"


def test_pysqlite_transaction_handling_is_left_alone(make_app: t.Callable[..., Flask], tmp_path: Path) -> None:
    """The library does not change pysqlite's own transaction handling."""
    db = ScopedDB()
    app = make_app(db, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/plain.db")
    with app.app_context():
        dbapi_connection = db.session.connection().connection.driver_connection
        assert dbapi_connection.isolation_level == ""  # type: ignore[union-attr]


def test_mysql_engines_recycle_connections_before_the_server_drops_them(make_app: t.Callable[..., Flask]) -> None:
    """MySQL and MariaDB engines recycle connections after two hours (the server's default timeout is eight)."""
    db = ScopedDB()
    app = make_app(db, SQLALCHEMY_DATABASE_URI="mysql+pymysql://nobody@127.0.0.1:9/none")
    with app.app_context():
        assert db.engine.pool._recycle == 7200  # create_engine(pool_recycle=...) has no public getter


@pytest.mark.skipif(BACKEND == "sqlite", reason="needs a server's connection ids; SQLite has none")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_forked_child_does_not_reuse_the_parents_connections(notes_app: Flask, notes_db: ScopedDB) -> None:
    """After a fork the child opens connections of its own, and the parent's pooled one still works."""
    connection_id = text("SELECT pg_backend_pid()" if BACKEND == "postgresql" else "SELECT CONNECTION_ID()")
    with notes_app.app_context():
        parent_id = notes_db.session.scalar(connection_id)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (runs in the child)
        try:
            with notes_app.app_context():
                os.write(write_end, str(notes_db.session.scalar(connection_id)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        child_id = int(pipe.read())
    assert child_id != parent_id
    with notes_app.app_context():
        assert notes_db.session.scalar(connection_id) == parent_id


# -- Models, queries and 404s ---------------------------------------------------


def test_default_model_is_a_declarative_base_of_its_own() -> None:
    """Each ScopedDB makes its own DeclarativeBase, whose metadata is db.metadata."""
    first, second = ScopedDB(), ScopedDB()
    assert issubclass(first.Model, DeclarativeBase)
    assert first.Model is not second.Model
    assert first.metadata is first.Model.metadata
    assert first.metadata is not second.metadata


def test_model_query_runs_on_db_session(make_app: t.Callable[..., Flask]) -> None:
    """Model.query is a legacy Query on the current context's Session."""
    db = ScopedDB()

    class Tag(db.Model):  # type: ignore[name-defined, misc]  # mypy cannot check db.Model: README, "Typing"
        __tablename__ = "tag"
        id: Mapped[int] = mapped_column(primary_key=True)
        name: Mapped[str] = mapped_column(String(50))

    app = make_app(db)
    with app.app_context():
        db.create_all()
        try:
            db.session.add_all([Tag(name="x"), Tag(name="y")])
            db.session.commit()
            assert [tag.name for tag in Tag.query.filter_by(name="x").all()] == ["x"]
            assert Tag.query.session is db.session()
        finally:
            db.session.rollback()
            db.drop_all()


def test_model_class_is_used_as_is(notes_db: ScopedDB) -> None:
    """ScopedDB(model_class=Base) uses Base itself: its metadata, and Base.query."""
    assert notes_db.Model is NoteBase
    assert notes_db.metadata is NoteBase.metadata


def test_model_class_query_works(notes_app: Flask, notes_db: ScopedDB) -> None:
    """A subclass of the user's base has a working query property."""
    with notes_app.app_context():
        notes_db.session.add(Note(text="hello"))
        notes_db.session.commit()
        assert Note.query.filter_by(text="hello").one().text == "hello"


def test_create_all_and_drop_all(make_app: t.Callable[..., Flask], notes_db: ScopedDB) -> None:
    """create_all makes metadata's tables on the current app's engine and drop_all removes them."""
    app = make_app(notes_db)
    with app.app_context():
        notes_db.create_all()
        assert "note" in notes_db.engine.dialect.get_table_names(notes_db.session.connection())
        notes_db.session.close()
        notes_db.drop_all()
        assert "note" not in notes_db.engine.dialect.get_table_names(notes_db.session.connection())


def test_get_or_404(notes_app: Flask, notes_db: ScopedDB) -> None:
    """get_or_404 returns the row by primary key, or raises NotFound with the description."""
    with notes_app.app_context():
        note = Note(text="found")
        notes_db.session.add(note)
        notes_db.session.commit()
        assert notes_db.get_or_404(Note, note.id) is note
        with pytest.raises(NotFound, match="no such note"):
            notes_db.get_or_404(Note, note.id + 1, description="no such note")


def test_first_or_404(notes_app: Flask, notes_db: ScopedDB) -> None:
    """first_or_404 returns the first row of a select, or raises NotFound."""
    with notes_app.app_context():
        notes_db.session.add_all([Note(text="a"), Note(text="b")])
        notes_db.session.commit()
        assert notes_db.first_or_404(select(Note).order_by(Note.text)).text == "a"
        with pytest.raises(NotFound):
            notes_db.first_or_404(select(Note).where(Note.text == "c"))


def test_one_or_404(notes_app: Flask, notes_db: ScopedDB) -> None:
    """one_or_404 returns the single row, or raises NotFound for none and for several."""
    with notes_app.app_context():
        notes_db.session.add_all([Note(text="a"), Note(text="b")])
        notes_db.session.commit()
        assert notes_db.one_or_404(select(Note).where(Note.text == "a")).text == "a"
        with pytest.raises(NotFound, match="none"):
            notes_db.one_or_404(select(Note).where(Note.text == "c"), description="none")
        with pytest.raises(NotFound, match="several"):
            notes_db.one_or_404(select(Note), description="several")


# -- Session factory -----------------------------------------------------------


def test_session_options_reach_the_sessionmaker(make_app: t.Callable[..., Flask]) -> None:
    """session_options configure every Session the ScopedDB makes."""
    db = ScopedDB(session_options={"expire_on_commit": False, "autoflush": False})
    app = make_app(db)
    with app.app_context():
        assert db.session().expire_on_commit is False
        assert db.session.autoflush is False


def test_configured_bind_wins_over_the_apps_engine(notes_app: Flask, notes_db: ScopedDB) -> None:
    """db.session.configure(bind=...) binds every later Session there instead of the app's engine."""
    with notes_app.app_context(), notes_db.engine.connect() as connection:
        notes_db.session.configure(bind=connection)
        try:
            with notes_app.app_context():
                assert notes_db.session.get_bind() is connection
        finally:
            notes_db.session.configure(bind=None)


# -- Bad input ---------------------------------------------------------------


def test_missing_database_uri_names_the_key() -> None:
    """init_app without SQLALCHEMY_DATABASE_URI says which key to set."""
    with pytest.raises(RuntimeError, match=r"app\.config\['SQLALCHEMY_DATABASE_URI'\]"):
        ScopedDB(Flask(__name__))


def test_init_app_twice_is_refused(notes_app: Flask, notes_db: ScopedDB) -> None:
    """Calling init_app a second time on an app raises and names the fix."""
    with pytest.raises(RuntimeError, match="already initialised.*once per app"):
        notes_db.init_app(notes_app)


def test_a_second_scopeddb_on_the_same_app_is_refused(notes_app: Flask) -> None:
    """A second ScopedDB cannot be initialised on an app that has one."""
    with pytest.raises(RuntimeError, match="already initialised.*share that one ScopedDB"):
        ScopedDB(notes_app)


def test_an_app_never_initialised_asks_for_init_app(notes_db: ScopedDB) -> None:
    """Using a ScopedDB with an app it was not initialised on suggests init_app."""
    with Flask("stranger").app_context(), pytest.raises(RuntimeError, match="did you forget init_app"):
        notes_db.session.execute(select(1))


def test_another_apps_scopeddb_asks_for_init_app(notes_app: Flask) -> None:
    """A ScopedDB used in a context of an app that has another ScopedDB suggests init_app."""
    with notes_app.app_context(), pytest.raises(RuntimeError, match="did you forget init_app"):
        _ = ScopedDB().engine


def test_an_unparseable_url_names_the_url() -> None:
    """A malformed SQLALCHEMY_DATABASE_URI fails in init_app naming the key and the URL."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "not a url"
    with pytest.raises(RuntimeError, match=r"SQLALCHEMY_DATABASE_URI'\] is not a database URL: 'not a url'"):
        ScopedDB(app)


# -- The fixture pair (conftest.py) ---------------------------------------------
#
# Each test starts from an empty item table and commits the same name, so that
# anything one of them leaks fails the next one, in any order.

CANARY = "canary"


SEEN_SESSIONS: list[Session] = []
probes = Blueprint("probes", __name__)


@probes.get("/probe/session")
def record_session() -> str:
    SEEN_SESSIONS.append(db.session())
    return str(flask_session.get("user", ""))


@probes.get("/probe/g")
def put_a_user_in_g() -> str:
    g.user = "ada"
    return ""


@probes.post("/probe/rename/<name>/<new_name>")
def rename_an_item(name: str, new_name: str) -> str:
    db.session.execute(update(Item).where(Item.name == name).values(name=new_name))
    db.session.commit()
    return ""


@probes.post("/probe/uncommitted/<name>")
def add_without_commit(name: str) -> tuple[str, int]:
    db.session.add(Item(name=name))
    db.session.flush()
    return "", 204


@probes.post("/probe/begin/<name>")
def add_in_a_begin_block(name: str) -> tuple[str, int]:
    with db.session.begin():
        db.session.add(Item(name=name))
    return "", 201


@probes.post("/probe/close")
def close_session() -> tuple[str, int]:
    db.session.close()
    return "", 204


@probes.get("/probe/stream")
def stream() -> Response:
    view_session = db.session()

    def generate() -> t.Iterator[str]:
        yield str(db.session() is view_session)

    return Response(stream_with_context(generate()))


@probes.get("/probe/engine")
def count_through_the_engine() -> str:
    with db.engine.connect() as engine_connection:
        return str(engine_connection.scalar(select(func.count()).select_from(Item)))


@probes.post("/probe/audited/<name>")
def add_with_an_audit_row(name: str) -> tuple[str, int]:
    db.session.add(Item(name=name))
    db.session.flush()
    with db.engine.begin() as engine_connection:
        engine_connection.execute(insert(Item).values(name=f"audit {name}"))
        db.session.commit()
    return "", 201


@pytest.fixture(scope="session")
def probe_views(app: Flask) -> None:
    """Session scope: the views above, on the pair's app. Every test that
    makes requests asks for it through ``client`` below, so it runs before
    the app's first request, as Flask requires."""
    app.register_blueprint(probes)
    app.secret_key = "probes"  # for client.session_transaction()


@pytest.fixture
def client(client: FlaskClient, probe_views: None) -> FlaskClient:
    """conftest.py's client, on an app with the probe views."""
    return client


@pytest.fixture
def session(db_session: scoped_session[Session]) -> scoped_session[Session]:
    """db_session, checked to start with no items."""
    assert db_session.scalar(select(func.count()).select_from(Item)) == 0
    return db_session


def count_items(session: scoped_session[Session] | Session) -> int:
    """How many items the session sees."""
    return session.scalar(select(func.count()).select_from(Item)) or 0


def test_commit_stays_inside_the_test(session: scoped_session[Session]) -> None:
    """A commit in the code under test is visible to the test and rolled back after it."""
    session.add(Item(name=CANARY))
    session.commit()
    assert count_items(session) == 1


def test_rollback_after_an_integrity_error_keeps_earlier_commits(session: scoped_session[Session]) -> None:
    """rollback() after an IntegrityError undoes only the failed work; queries go on."""
    session.add(Item(name=CANARY))
    session.commit()
    session.add(Item(name=CANARY))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    assert count_items(session) == 1


def test_close_keeps_earlier_commits(session: scoped_session[Session]) -> None:
    """close() in the code under test neither ends the test's transaction nor undoes its commits."""
    session.add(Item(name=CANARY))
    session.commit()
    session.close()
    assert count_items(session) == 1


def test_begin_nested_inside_the_test(session: scoped_session[Session]) -> None:
    """The code under test's own savepoints work inside the test's transaction."""
    with session.begin_nested():
        session.add(Item(name=CANARY))
    nested = session.begin_nested()
    session.add(Item(name="rolled back"))
    nested.rollback()
    session.commit()
    assert [item.name for item in Item.query] == [CANARY]


def test_remove_mid_test_keeps_earlier_commits(session: scoped_session[Session], db: ScopedDB) -> None:
    """db.session.remove() mid-test gives a new Session, still inside the test's transaction."""
    session.add(Item(name=CANARY))
    session.commit()
    before = session()
    db.session.remove()
    assert session() is not before
    assert count_items(session) == 1


def test_a_views_commit_is_visible_to_the_test(session: scoped_session[Session], client: FlaskClient) -> None:
    """A view that commits through the test client is seen by the test."""
    assert client.post(f"/items/{CANARY}").status_code == 201
    assert count_items(session) == 1


def test_a_second_request_sees_the_first_requests_rows(client: FlaskClient) -> None:
    """Using only the client, one request's commit is seen by the next request."""
    assert client.get("/items").json == []
    assert client.post(f"/items/{CANARY}").status_code == 201
    assert client.get("/items").json == [CANARY]


def test_a_request_has_a_session_of_its_own(session: scoped_session[Session], client: FlaskClient) -> None:
    """Each request runs in an app context of its own, on a Session of its own, on every Flask version."""
    client.get("/probe/session")
    client.get("/probe/session")
    first, second = SEEN_SESSIONS[-2:]
    assert first is not second
    assert session() not in (first, second)


def test_a_view_that_forgets_to_commit_leaves_nothing_behind(
    session: scoped_session[Session], client: FlaskClient
) -> None:
    """What a view flushed but never committed is rolled back at its teardown: the next request does not see it."""
    assert client.post(f"/probe/uncommitted/{CANARY}").status_code == 204
    assert client.get("/items").json == []
    assert count_items(session) == 0


def test_a_view_in_begin_style_works_after_the_test_queried(
    session: scoped_session[Session], client: FlaskClient
) -> None:
    """A view's `with db.session.begin():` works although the test's own Session has begun."""
    assert client.post(f"/probe/begin/{CANARY}").status_code == 201
    assert count_items(session) == 1


def test_a_view_that_closes_its_session_leaves_the_tests_objects_alone(
    session: scoped_session[Session], client: FlaskClient
) -> None:
    """db.session.close() in a view closes the request's Session, not the test's."""
    item = Item(name=CANARY)
    session.add(item)
    session.commit()
    assert client.post("/probe/close").status_code == 204
    assert item in session
    assert item.name == CANARY


def test_after_a_failed_request_the_test_and_the_next_request_go_on(
    session: scoped_session[Session], client: FlaskClient, app: Flask
) -> None:
    """A request that fails with an IntegrityError leaves neither the test's Session nor the next request failing."""
    assert client.post(f"/items/{CANARY}").status_code == 201
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        assert client.post(f"/items/{CANARY}").status_code == 500
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = None
    assert count_items(session) == 1
    assert client.get("/items").json == [CANARY]


def test_requests_inside_with_client_have_sessions_of_their_own(
    session: scoped_session[Session], client: FlaskClient, db: ScopedDB
) -> None:
    """Inside `with client:` each request has its own Session; after the block the test's is back."""
    with client:
        client.get("/probe/session")
        kept_open = db.session()
        client.get("/probe/session")
    first, second = SEEN_SESSIONS[-2:]
    assert len({id(first), id(second), id(session())}) == 3
    assert kept_open is not session()
    assert db.session() is session()


def test_a_request_after_session_transaction_has_a_session_of_its_own(
    session: scoped_session[Session], client: FlaskClient
) -> None:
    """client.session_transaction() sets the cookie session; the next request still has its own Session."""
    with client.session_transaction() as cookie_session:
        cookie_session["user"] = "ada"
    assert client.get("/probe/session").text == "ada"
    assert SEEN_SESSIONS[-1] is not session()


def test_the_test_reads_what_a_view_put_in_g_inside_with_client(
    session: scoped_session[Session], client: FlaskClient
) -> None:
    """A request's g is its own context's: the test reads it inside `with client:`, which keeps that context."""
    client.get("/probe/g")
    assert "user" not in g
    with client:
        client.get("/probe/g")
        assert g.user == "ada"


def test_an_object_the_test_loaded_before_a_request_changed_it_is_fresh_once_refreshed(
    session: scoped_session[Session], client: FlaskClient
) -> None:
    """A request commits on a Session of its own: what the test's Session loaded keeps its old values until
    refreshed (or expired), as it would beside any other connection."""
    item = Item(name=CANARY)
    session.add(item)
    session.commit()
    assert item.name == CANARY  # loaded again after the commit
    client.post(f"/probe/rename/{CANARY}/renamed")
    assert item.name == CANARY
    session.refresh(item)
    assert item.name == "renamed"


flask_3_1_habits = pytest.mark.skipif(FLASK >= (3, 2), reason="Flask 3.2 gives every request a context of its own")


@flask_3_1_habits
def test_with_requests_share_context_the_test_reads_g_after_a_request(
    requests_share_context: None, session: scoped_session[Session], client: FlaskClient
) -> None:
    """Flask <= 3.1's habit, by the switch: the request ran in the test's context, so its g is the test's."""
    client.get("/probe/g")
    assert g.user == "ada"


@flask_3_1_habits
def test_with_requests_share_context_objects_loaded_before_a_request_are_fresh(
    requests_share_context: None, session: scoped_session[Session], client: FlaskClient
) -> None:
    """Flask <= 3.1's habit, by the switch: the request ran on the test's Session, whose commit expired them."""
    item = Item(name=CANARY)
    session.add(item)
    session.commit()
    assert item.name == CANARY
    client.post(f"/probe/rename/{CANARY}/renamed")
    assert item.name == "renamed"


@flask_3_1_habits
def test_with_requests_share_context_a_request_runs_on_the_tests_session(
    requests_share_context: None, session: scoped_session[Session], client: FlaskClient
) -> None:
    """Flask <= 3.1's habit, by the switch: one Session for the test and its requests."""
    client.get("/probe/session")
    assert SEEN_SESSIONS[-1] is session()


@flask_3_1_habits
def test_requests_share_context_holds_for_its_transaction_only(
    connection: TestConnection, app: Flask, probe_views: None
) -> None:
    """The switch is off again in the next test."""
    with connection.transaction(requests_share_context=True):
        pass
    with connection.transaction() as session:
        app.test_client().get("/probe/session")
        assert SEEN_SESSIONS[-1] is not session()


@pytest.mark.skipif(FLASK < (3, 2), reason="Flask <= 3.1 has the habit")
def test_requests_share_context_on_flask_3_2_says_what_to_do_instead(connection: TestConnection) -> None:
    """Flask 3.2 has no such habit: the switch raises, naming `with client:` and refresh."""
    with (
        pytest.raises(TestSetupError, match=r"`with client:`.*refresh"),
        connection.transaction(requests_share_context=True),
    ):
        pass


def test_a_streamed_response_runs_on_the_views_session_but_on_flask_3_1_2_to_3_1_x(client: FlaskClient) -> None:
    """A stream_with_context generator runs on the view's Session, but Flask 3.1.2 up to 3.2 tears the view's
    context down when the view returns and pushes it again for the generator, which so gets a new Session."""
    assert client.get("/probe/stream").text == str(not (3, 1, 2) <= FLASK < (3, 2))


def test_a_sessions_savepoint_gone_with_a_rollback_below_it_is_no_commit(
    connection: TestConnection, app: Flask
) -> None:
    """A Session of another context (an inline test_request_context()) begins its savepoint below the test's
    Session's and rolls back first, which on one connection takes the test's savepoint with it: the test's
    Session then cannot roll back to it, which is no COMMIT, and the test does not fail."""
    with connection.transaction() as session:
        tests_session = session()
        with app.test_request_context():
            db.session.execute(select(1))
            tests_session.execute(select(1))


def test_rolling_back_the_tests_session_undoes_requests_committed_since_it_began(
    session: scoped_session[Session], client: FlaskClient
) -> None:
    """Savepoints on one connection form a stack: the test's rollback() also undoes what a request committed
    after the test's Session began (the `session` fixture's count began it)."""
    assert client.post(f"/items/{CANARY}").status_code == 201
    session.rollback()
    assert count_items(session) == 0


@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's now() is the transaction's start time")
def test_postgresql_now_is_the_same_for_the_whole_test(session: scoped_session[Session]) -> None:
    """now() is the outer transaction's start time, so it does not move within a test, across commits too."""
    before = session.scalar(text("SELECT now()"))
    session.commit()
    time.sleep(0.01)
    assert session.scalar(text("SELECT now()")) == before


# -- Apps made during the run: taken over like the app under test.


def other_app(**config: t.Any) -> Flask:
    """The conftest's factory called again in a test, as a config test does; the test database by default."""
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": os.environ["TEST_DATABASE_URL"], **config})


def test_an_app_made_during_a_test_commits_inside_its_transaction(session: scoped_session[Session]) -> None:
    """A request to an app the test made commits inside the test's transaction: the test sees the row, and the
    next test does not (every test starts from an empty table)."""
    assert other_app().test_client().post(f"/items/{CANARY}").status_code == 201
    assert count_items(session) == 1


def test_an_app_made_during_a_test_has_its_engine_connections_join_the_test(session: scoped_session[Session]) -> None:
    """db.engine of an app the test made hands out the test's connection, in a savepoint of its own."""
    with other_app().app_context(), db.engine.begin() as engine_connection:
        engine_connection.execute(insert(Item).values(name=CANARY))
    assert count_items(session) == 1


def test_an_app_made_during_a_test_for_another_database_keeps_its_url_and_writes_to_the_tests(
    session: scoped_session[Session], tmp_path: Path
) -> None:
    """An app made for another database on the same driver (a production config) reads its own URL, and its
    connections are the test's, on the run's database: nothing reaches the database it names."""
    production = str(tmp_path / "production.db") if BACKEND == "sqlite" else "production_only"
    url = make_url(os.environ["TEST_DATABASE_URL"]).set(database=production)
    with other_app(SQLALCHEMY_DATABASE_URI=url).app_context(), db.engine.begin() as engine_connection:
        assert db.engine.url == url
        engine_connection.execute(insert(Item).values(name=CANARY))
    assert count_items(session) == 1
    assert not Path(production).exists()


def test_an_app_made_during_a_test_for_another_backend_runs_on_the_runs_database(
    session: scoped_session[Session], tmp_path: Path
) -> None:
    """An app made for a database on another backend (a production config) runs on the run's engine too:
    it reads its own URL, its connections are the test's, and nothing reaches the database it names."""
    production = (
        f"sqlite:///{tmp_path}/production.db" if BACKEND != "sqlite" else "postgresql+psycopg://nobody@127.0.0.1:9/p"
    )
    with other_app(SQLALCHEMY_DATABASE_URI=production).app_context(), db.engine.begin() as connection:
        assert db.engine.url == make_url(production)
        connection.execute(insert(Item).values(name=CANARY))
    assert count_items(session) == 1
    assert not (tmp_path / "production.db").exists()


@pytest.mark.parametrize(
    "options",
    [
        {"isolation_level": "AUTOCOMMIT"},
        {"execution_options": {"isolation_level": "AUTOCOMMIT"}},
        {"execution_options": {"isolation_level": "SERIALIZABLE"}},
        {},
    ],
)
def test_an_app_made_during_a_test_keeps_its_own_autocommit(
    session: scoped_session[Session], options: dict[str, t.Any]
) -> None:
    """An app made with isolation_level="AUTOCOMMIT" (an engine option, or an execution option) autocommits its
    engine connections, one made without does not, whatever the app under test does: an insert never committed
    stands only in the first."""
    with other_app(SQLALCHEMY_ENGINE_OPTIONS=options).app_context(), db.engine.connect() as connection:
        connection.execute(insert(Item).values(name=CANARY))
    assert count_items(session) == ("AUTOCOMMIT" in str(options))


def test_an_app_made_before_the_run_is_taken_over_when_it_opens(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """An app of the ScopedDB made before the run (a session fixture set up before connection) is taken over
    too: between tests its engine refuses with the blocker's message rather than writing for good."""
    earlier = make_app(notes_db)
    with (
        notes_db.test_connection(make_app(notes_db)),
        earlier.app_context(),
        pytest.raises(RuntimeError, match="outside the fixture pair"),
    ):
        notes_db.engine.connect()


def test_a_test_connection_refuses_an_app_on_another_database_than_the_runs(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB, tmp_path: Path
) -> None:
    """An app whose config read TEST_DATABASE_URL before pytest_configure named the run's database is refused
    before anything is created or dropped there, naming the fix; in a run in memory, an app on a file too."""
    url = make_url(os.environ["TEST_DATABASE_URL"])
    elsewhere = url.set(database=str(tmp_path / "named.db") if BACKEND == "sqlite" else "flask_scoped_db_elsewhere")
    with pytest.raises(TestSetupError, match=r"not on the run's own database .*in the app fixture"):
        notes_db.test_connection(make_app(notes_db, SQLALCHEMY_DATABASE_URI=elsewhere))
    assert not (tmp_path / "named.db").exists()


@pytest.mark.skipif(BACKEND == "sqlite", reason="a run on a server")
def test_a_test_connection_refuses_an_in_memory_app_in_a_run_on_a_server(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """An app left on in-memory SQLite in a run on a server would test nothing of the server: refused."""
    with pytest.raises(TestSetupError, match=r"on sqlite://, not on the run's own database"):
        notes_db.test_connection(make_app(notes_db, SQLALCHEMY_DATABASE_URI="sqlite://"))


def test_a_second_test_connection_on_the_same_scoped_db_is_refused(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """One TestConnection per ScopedDB at a time: the second would find the first's app taken over."""
    with (
        notes_db.test_connection(make_app(notes_db)),
        pytest.raises(TestSetupError, match="already open on this ScopedDB"),
    ):
        notes_db.test_connection(make_app(notes_db))


@pytest.mark.skipif(BACKEND != "mysql", reason="MariaDB's own URLs")
def test_a_mariadb_url_gets_mariadbs_reset(make_app: t.Callable[..., Flask], notes_db: ScopedDB) -> None:
    """A mariadb+ URL is MariaDB as a mysql+ one is: what a test SETs is gone in the next."""
    url = make_url(os.environ["TEST_DATABASE_URL"])
    url = url.set(drivername=f"mariadb+{url.get_driver_name()}")
    with notes_db.test_connection(make_app(notes_db, SQLALCHEMY_DATABASE_URI=url)) as test_connection:
        with test_connection.transaction() as session:
            session.execute(text("SET @leak = 42"))
        with test_connection.transaction() as session:
            assert session.scalar(text("SELECT @leak")) is None


def test_an_app_made_during_a_test_runs_cli_commands_in_a_context_of_their_own(
    session: scoped_session[Session],
) -> None:
    """The CLI runner of an app the test made runs each command in an app context of its own, as the app under
    test's does: Flask's would run it in the test's context, on the test's Session."""
    made = other_app()
    seen: list[Session] = []
    made.cli.add_command(click.Command("probe", callback=lambda: seen.append(db.session())))
    assert made.test_cli_runner().invoke(args=["probe"]).exit_code == 0
    assert seen and seen[0] is not session()


def test_an_app_made_during_a_test_refuses_between_tests(connection: TestConnection) -> None:
    """An app made in one test and used after it writes nothing for good: its engine is the run's, blocked."""
    with connection.transaction():
        app = other_app()
    with app.app_context(), pytest.raises(RuntimeError, match="outside the fixture pair"):
        db.session.add(Item(name=CANARY))
        db.session.commit()


def test_closing_the_run_gives_an_app_made_during_it_its_own_engine(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """After the run the app made during it has the engine its own config made, and the ScopedDB its init_app."""
    with notes_db.test_connection(make_app(notes_db)) as test_connection:
        with test_connection.transaction():
            app = make_app(notes_db)
            with app.app_context():
                run_engine = notes_db.engine
        assert "init_app" in vars(notes_db)
    assert "init_app" not in vars(notes_db)
    with app.app_context():
        assert notes_db.engine is not run_engine
        assert notes_db.session.scalar(select(1)) == 1


# -- The pair and db.engine: connections taken from the engine join the test.


def test_an_engine_connection_sees_the_tests_rows(session: scoped_session[Session], db: ScopedDB) -> None:
    """A Connection from db.engine reads what the test's Session flushed but did not commit."""
    session.add(Item(name=CANARY))
    session.flush()
    with db.engine.connect() as engine_connection:
        assert count_items(Session(engine_connection)) == 1


def test_an_engine_begin_write_is_undone_with_the_test(session: scoped_session[Session], db: ScopedDB) -> None:
    """A write committed through db.engine.begin() is seen by the test and rolled back after it."""
    with db.engine.begin() as engine_connection:
        engine_connection.execute(insert(Item).values(name=CANARY))
    assert count_items(session) == 1


def test_an_engine_write_to_the_tests_row_does_not_wait(session: scoped_session[Session], db: ScopedDB) -> None:
    """Updating a row the test wrote, through db.engine, neither blocks nor times out."""
    session.add(Item(name="written by the test"))
    session.commit()
    with db.engine.begin() as engine_connection:
        engine_connection.execute(update(Item).values(name=CANARY))
    assert session.scalars(select(Item.name)).all() == [CANARY]


def test_an_engine_rollback_undoes_only_its_own_work(session: scoped_session[Session], db: ScopedDB) -> None:
    """rollback() on a db.engine Connection undoes its own writes, not the test's."""
    session.add(Item(name=CANARY))
    session.commit()
    with db.engine.connect() as engine_connection:
        engine_connection.execute(insert(Item).values(name="rolled back"))
        engine_connection.rollback()
    assert session.scalars(select(Item.name)).all() == [CANARY]


def test_a_raw_dbapi_commit_is_undone_with_the_test(session: scoped_session[Session], db: ScopedDB) -> None:
    """engine.raw_connection(), as pandas and other DBAPI users take it, commits inside the test too."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"INSERT INTO item (name) VALUES ('{CANARY}')")
        cursor.close()
        raw.commit()
    finally:
        raw.close()
    assert count_items(session) == 1


DRIVER_ATTRIBUTE = {"sqlite": "in_transaction", "postgresql": "closed", "mysql": "open"}


def test_a_raw_connection_offers_the_drivers_own_attributes(
    session: scoped_session[Session], db: ScopedDB, connection: TestConnection
) -> None:
    """Attributes of the driver's connection that the pair does not change read through to the test's own."""
    raw = db.engine.raw_connection()
    try:
        attribute = DRIVER_ATTRIBUTE[BACKEND]
        ours = connection.connection.connection.dbapi_connection
        assert getattr(raw.dbapi_connection, attribute) == getattr(ours, attribute)
    finally:
        raw.close()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_cannot_join_the_tests_transaction(session: scoped_session[Session], db: ScopedDB) -> None:
    """In a child forked during a test, db.engine refuses: its connection would be the parent's."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (runs in the child)
        try:
            db.engine.connect()
        except RuntimeError as error:
            os.write(write_end, str(error).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        assert "forked child cannot join" in pipe.read()
    assert count_items(session) == 0


def test_a_view_reading_through_the_engine_sees_the_tests_rows(
    session: scoped_session[Session], client: FlaskClient
) -> None:
    """A view that counts through db.engine sees what the test committed."""
    session.add(Item(name=CANARY))
    session.commit()
    assert client.get("/probe/engine").text == "1"


def test_a_nested_app_context_joins_the_test(session: scoped_session[Session], app: Flask, db: ScopedDB) -> None:
    """A nested app context has its own Session, on the test's transaction."""
    with app.app_context():
        db.session.add(Item(name=CANARY))
        db.session.commit()
    assert count_items(session) == 1


def test_another_thread_joins_the_test(session: scoped_session[Session], app: Flask, db: ScopedDB) -> None:
    """A thread with its own app context, joined before the test goes on, works inside the test's transaction."""

    def work() -> None:
        with app.app_context():
            db.session.add(Item(name=CANARY))
            db.session.commit()

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert count_items(session) == 1


@pytest.mark.skipif(BACKEND in ("mysql", "mariadb"), reason="MariaDB commits DDL implicitly: see the guard tests")
def test_ddl_inside_a_test_is_rolled_back(session: scoped_session[Session]) -> None:
    """Where DDL is transactional (PostgreSQL, SQLite) a table made in a test is gone after it."""
    session.execute(text("CREATE TABLE made_in_a_test (x INTEGER)"))
    session.commit()
    session.add(Item(name=CANARY))
    session.commit()
    assert session.scalar(text("SELECT count(*) FROM made_in_a_test")) == 0


def test_every_session_of_the_test_shares_one_connection(
    session: scoped_session[Session], connection: TestConnection, app: Flask, db: ScopedDB
) -> None:
    """The test's Session and a request's are bound to the fixture's connection."""
    assert session.connection().engine is connection.engine
    with app.app_context():
        assert db.session.get_bind() is connection.connection
    assert session.get_bind() is connection.connection


def test_assert_num_queries_counts_the_statements_sent(
    session: scoped_session[Session], assert_num_queries: t.Callable[[int], t.ContextManager[None]]
) -> None:
    """assert_num_queries counts an INSERT and a SELECT, not the savepoints around them."""
    with assert_num_queries(2):
        session.add(Item(name=CANARY))
        session.commit()
        assert count_items(session) == 1


def test_assert_num_queries_shows_expected_actual_and_sql(
    session: scoped_session[Session], assert_num_queries: t.Callable[[int], t.ContextManager[None]]
) -> None:
    """On a mismatch the AssertionError shows both counts and the SQL."""
    expected = r"(?s)expected 3 SQL statement\(s\), got 1:.*SELECT count"
    with pytest.raises(AssertionError, match=expected), assert_num_queries(3):
        count_items(session)


def item_names(session: scoped_session[Session] | Session) -> list[str]:
    """The names of the items the session sees, sorted."""
    return list(session.scalars(select(Item.name).order_by(Item.name)))


AUTOCOMMIT = {
    "connection": lambda engine: engine.connect().execution_options(isolation_level="AUTOCOMMIT"),
    "engine": lambda engine: engine.execution_options(isolation_level="AUTOCOMMIT").connect(),
}


def driver_autocommits(dbapi_connection: t.Any) -> bool:
    """Whether a driver's own connection is in its autocommit mode."""
    if BACKEND == "sqlite":
        return dbapi_connection.isolation_level is None
    if BACKEND == "postgresql":
        return dbapi_connection.autocommit  # type: ignore[no-any-return]
    return dbapi_connection.get_autocommit()  # type: ignore[no-any-return]


@pytest.mark.parametrize("asked_by", AUTOCOMMIT)
def test_an_autocommit_connections_writes_need_no_commit(
    session: scoped_session[Session], db: ScopedDB, asked_by: str
) -> None:
    """A write on an AUTOCOMMIT connection, closed without commit(), is there for the rest of the test."""
    with AUTOCOMMIT[asked_by](db.engine) as engine_connection:
        engine_connection.execute(insert(Item).values(name=CANARY))
    assert item_names(session) == [CANARY]


@pytest.mark.parametrize("asked_by", AUTOCOMMIT)
def test_an_autocommit_connection_leaves_the_tests_connection_transactional(
    session: scoped_session[Session], db: ScopedDB, connection: TestConnection, asked_by: str
) -> None:
    """Asking db.engine for AUTOCOMMIT never reaches the driver of the test's own connection."""
    with AUTOCOMMIT[asked_by](db.engine) as engine_connection:
        engine_connection.execute(select(1))
    assert not driver_autocommits(connection.connection.connection.dbapi_connection)


def test_a_failed_autocommit_statement_keeps_the_ones_before_it(session: scoped_session[Session], db: ScopedDB) -> None:
    """On an AUTOCOMMIT connection each statement stands alone: one that fails undoes only itself."""
    with AUTOCOMMIT["connection"](db.engine) as engine_connection:
        engine_connection.execute(insert(Item).values(name="first"))
        with pytest.raises(IntegrityError):
            engine_connection.execute(insert(Item).values(name="first"))
        engine_connection.execute(insert(Item).values(name="second"))
    assert item_names(session) == ["first", "second"]


@pytest.mark.skipif(BACKEND == "mysql", reason="MariaDB has no statement that refuses a transaction")
def test_vacuum_on_an_autocommit_connection_says_it_cannot_run_in_a_test(
    session: scoped_session[Session], db: ScopedDB
) -> None:
    """A statement that cannot run inside a transaction fails with a message that says so, and the test goes on."""
    with AUTOCOMMIT["connection"](db.engine) as engine_connection:
        with pytest.raises(RuntimeError, match="cannot run inside a transaction, and in a test"):
            engine_connection.exec_driver_sql("VACUUM")
        engine_connection.execute(insert(Item).values(name=CANARY))
    assert item_names(session) == [CANARY]


def test_an_engine_connection_goes_on_after_the_tests_session_commits(
    session: scoped_session[Session], db: ScopedDB
) -> None:
    """A db.engine connection whose transaction began inside the Session's goes on after the Session commits."""
    session.add(Item(name="session"))
    session.flush()
    with db.engine.connect() as engine_connection:
        engine_connection.execute(insert(Item).values(name="before"))
        session.commit()
        engine_connection.execute(insert(Item).values(name="after"))
        engine_connection.commit()
    assert item_names(session) == ["after", "before", "session"]


def test_an_engine_commit_leaves_a_session_begun_after_it_open(
    session: scoped_session[Session], app: Flask, db: ScopedDB
) -> None:
    """A db.engine connection that commits while a Session begun after it is open leaves that Session's work."""
    with db.engine.connect() as engine_connection, app.app_context():
        engine_connection.execute(insert(Item).values(name="engine"))
        db.session.add(Item(name="session"))
        db.session.flush()
        engine_connection.commit()
        db.session.commit()
    assert item_names(session) == ["engine", "session"]


def test_a_read_only_engine_connection_keeps_a_commit_made_while_it_was_open(
    session: scoped_session[Session], app: Flask, db: ScopedDB
) -> None:
    """A db.engine connection that only read, closed after a Session begun after it committed, keeps that commit."""
    with db.engine.connect() as engine_connection, app.app_context():
        engine_connection.execute(select(1))
        db.session.add(Item(name=CANARY))
        db.session.commit()
    assert item_names(session) == [CANARY]


def test_an_engine_rollback_that_would_undo_another_connections_commit_fails_the_test(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """A db.engine rollback whose savepoint holds what a connection begun after it committed fails the test."""
    app = make_app(notes_db)
    with (
        notes_db.test_connection(app) as test_connection,
        pytest.raises(TestFailure, match="what it wrote was kept"),
        test_connection.transaction(),
        notes_db.engine.connect() as first,
        notes_db.engine.connect() as second,
    ):
        first.execute(insert(Note).values(text="first"))
        second.execute(insert(Note).values(text="second"))
        second.commit()
        first.rollback()


def test_an_engine_rollback_after_a_session_that_only_read_undoes_its_write(
    session: scoped_session[Session], app: Flask, db: ScopedDB
) -> None:
    """A db.engine connection that wrote, then saw a Session begin, read and end inside it, rolls back its write."""
    with db.engine.connect() as engine_connection:
        engine_connection.execute(insert(Item).values(name=CANARY))
        with app.app_context():
            db.session.execute(text("WITH names AS (SELECT name FROM item) SELECT count(*) FROM names")).all()
            db.session.commit()
        with app.app_context():
            db.session.execute(select(Item)).all()
        engine_connection.rollback()
    assert item_names(session) == []


def test_a_raw_connection_that_only_read_keeps_a_commit_made_while_it_was_open(
    session: scoped_session[Session], app: Flask, db: ScopedDB
) -> None:
    """A raw connection of db.engine that only read (as pandas.read_sql does), closed after a Session begun after
    it committed, keeps that commit."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("SELECT count(*) FROM item")
        cursor.fetchall()
        with app.app_context():
            db.session.add(Item(name=CANARY))
            db.session.commit()
    finally:
        raw.close()
    assert item_names(session) == [CANARY]


def test_a_session_rollback_that_undoes_an_engine_connections_commit_fails_the_test(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """A Session's rollback that undoes what a db.engine connection committed inside its savepoint (an audit row)
    fails the test, naming it: separate connections would have kept it."""
    app = make_app(notes_db)
    with (
        notes_db.test_connection(app) as test_connection,
        pytest.raises(TestFailure, match="A rollback undid what another"),
        test_connection.transaction() as session,
    ):
        session.add(Note(text="written"))
        session.flush()
        with notes_db.engine.begin() as engine_connection:
            engine_connection.execute(insert(Note).values(text="audit"))
        session.rollback()


def test_an_engine_connections_nested_rollback_that_undoes_a_sessions_commit_fails_the_test(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """A db.engine connection's begin_nested() rolled back after a Session committed inside it fails the test."""
    app = make_app(notes_db)
    with (
        notes_db.test_connection(app) as test_connection,
        pytest.raises(TestFailure, match="A rollback undid what another"),
        test_connection.transaction(),
        notes_db.engine.connect() as engine_connection,
    ):
        nested = engine_connection.begin_nested()
        with app.app_context():
            notes_db.session.add(Note(text="committed"))
            notes_db.session.commit()
        nested.rollback()


def test_a_view_that_commits_inside_engine_begin_keeps_both_writes(
    session: scoped_session[Session], client: FlaskClient
) -> None:
    """A view that commits db.session inside `with db.engine.begin()` (an audit row) answers and keeps both."""
    assert client.post("/probe/audited/x").status_code == 201
    assert item_names(session) == ["audit x", "x"]


def test_an_engine_rollback_that_overlaps_a_session_fails_the_test(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """A db.engine rollback that would undo a Session's savepoint begun after its own fails the test, naming it."""
    app = make_app(notes_db)
    with (
        notes_db.test_connection(app) as test_connection,
        pytest.raises(TestFailure, match="what it wrote was kept"),
        test_connection.transaction() as session,
        notes_db.engine.connect() as engine_connection,
    ):
        engine_connection.execute(insert(Note).values(text="engine"))
        session.add(Note(text="session"))
        session.flush()
        engine_connection.rollback()


def test_a_helper_sessions_savepoint_leaves_the_tests_alone(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """A Session of its own on db.engine, in begin_nested(), names its savepoint apart from the test Session's
    (SQLAlchemy numbers them per Connection from 1, and MariaDB replaces a savepoint of the same name)."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection, test_connection.transaction() as session:
        session.add(Note(text="test"))
        session.flush()
        with Session(notes_db.engine) as helper:
            with helper.begin_nested():
                helper.add(Note(text="helper"))
            helper.commit()
        session.commit()
        assert list(session.scalars(select(Note.text).order_by(Note.text))) == ["helper", "test"]


def test_a_table_a_test_made_for_good_is_dropped_after_it(make_app: t.Callable[..., Flask], notes_db: ScopedDB) -> None:
    """A table the code under test created and committed (MariaDB's DDL commits by itself) is dropped after it."""
    app = make_app(notes_db)
    with (
        notes_db.test_connection(app) as test_connection,
        pytest.raises(TestFailure, match="ended the outer transaction"),
        test_connection.transaction() as session,
    ):
        session.execute(text("CREATE TABLE made_for_good (x INTEGER)"))
        session.execute(text("COMMIT"))
    with app.app_context():
        assert "made_for_good" not in inspect(notes_db.engine).get_table_names()


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_childs_session_refuses_to_join_the_tests_transaction(
    session: scoped_session[Session], db: ScopedDB
) -> None:
    """In a child forked during a test, db.session refuses too: it would run on the parent's connection."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (runs in the child)
        try:
            db.session.add(Item(name=CANARY))
            db.session.commit()
        except RuntimeError as error:
            os.write(write_end, str(error).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end) as pipe:
        assert "forked child cannot join" in pipe.read()
    assert count_items(session) == 0


def test_get_bind_url_and_engine_read_in_a_test(session: scoped_session[Session], db: ScopedDB) -> None:
    """db.session.get_bind().url and .engine, which production code reads off the engine, read in a test too."""
    assert session.get_bind().url == db.engine.url  # type: ignore[union-attr]
    assert session.get_bind().engine is db.engine


def test_the_engines_pool_counts_its_checked_out_connections(session: scoped_session[Session], db: ScopedDB) -> None:
    """db.engine.pool.checkedout(), as a metrics view calls it, counts the connections the test holds."""
    with db.engine.connect():
        assert db.engine.pool.checkedout() == 1  # type: ignore[attr-defined]
    assert db.engine.pool.checkedout() == 0  # type: ignore[attr-defined]


def dict_cursor_options() -> dict[str, t.Any]:
    """The options of the driver's own cursor() that make rows dictionaries."""
    if DRIVER == "pysqlite":

        class DictCursor(sqlite3.Cursor):
            def __init__(self, connection: sqlite3.Connection) -> None:
                super().__init__(connection)
                self.row_factory = sqlite3.Row

        return {"factory": DictCursor}
    if DRIVER == "psycopg":
        return {"row_factory": importlib.import_module("psycopg.rows").dict_row}
    if DRIVER == "psycopg2":
        return {"cursor_factory": importlib.import_module("psycopg2.extras").RealDictCursor}
    if DRIVER == "pymysql":
        return {"cursor": importlib.import_module("pymysql.cursors").DictCursor}
    return {"cursorclass": importlib.import_module("MySQLdb.cursors").DictCursor}


def test_a_raw_connections_cursor_takes_the_drivers_options(session: scoped_session[Session], db: ScopedDB) -> None:
    """raw_connection().cursor(...) takes the driver's own keyword options, as a row factory."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor(**dict_cursor_options())
        cursor.execute("SELECT 1 AS one")
        assert cursor.fetchone()["one"] == 1  # type: ignore[index]
    finally:
        raw.close()


def test_a_driver_connection_as_a_context_manager_commits_inside_the_test(
    session: scoped_session[Session], db: ScopedDB
) -> None:
    """`with raw.driver_connection:` commits on leaving the block, as sqlite3's and psycopg2's do."""
    raw = db.engine.raw_connection()
    try:
        with raw.driver_connection as driver_connection:  # type: ignore[union-attr]
            driver_connection.cursor().execute(f"INSERT INTO item (name) VALUES ('{CANARY}')")
    finally:
        raw.close()
    assert item_names(session) == [CANARY]


def test_a_driver_connection_as_a_context_manager_rolls_back_on_an_error(
    session: scoped_session[Session], db: ScopedDB
) -> None:
    """`with raw.driver_connection:` rolls back its own writes when the block raises."""
    raw = db.engine.raw_connection()
    try:
        with pytest.raises(ValueError, match="undo"), raw.driver_connection as driver_connection:  # type: ignore[union-attr]
            driver_connection.cursor().execute(f"INSERT INTO item (name) VALUES ('{CANARY}')")
            raise ValueError("undo")
    finally:
        raw.close()
    assert item_names(session) == []


@pytest.mark.skipif(DRIVER not in ("pysqlite", "psycopg"), reason="the driver's connections have no execute()")
def test_a_driver_connections_execute_runs_in_the_connections_savepoint(
    session: scoped_session[Session], db: ScopedDB
) -> None:
    """The execute() shortcut of sqlite3's and psycopg's connections runs in the connection's own transaction."""
    raw = db.engine.raw_connection()
    try:
        raw.driver_connection.execute(f"INSERT INTO item (name) VALUES ('{CANARY}')")  # type: ignore[union-attr]
        raw.rollback()
    finally:
        raw.close()
    assert item_names(session) == []


@pytest.mark.skipif(DRIVER != "psycopg", reason="psycopg's own transaction blocks")
def test_a_psycopg_transaction_block_on_a_raw_connection_nests_in_its_savepoint(
    session: scoped_session[Session], db: ScopedDB
) -> None:
    """psycopg's `with connection.transaction():` on a raw connection of db.engine commits inside the test."""
    raw = db.engine.raw_connection()
    try:
        with raw.driver_connection.transaction():  # type: ignore[union-attr]
            raw.driver_connection.execute(f"INSERT INTO item (name) VALUES ('{CANARY}')")  # type: ignore[union-attr]
        raw.commit()
    finally:
        raw.close()
    assert item_names(session) == [CANARY]


def put_in_autocommit(driver_connection: t.Any) -> None:
    """Turn the driver's own autocommit on, as code that goes around SQLAlchemy does."""
    if DRIVER == "psycopg2":
        driver_connection.set_isolation_level(0)
    elif BACKEND == "mysql":
        driver_connection.autocommit(True)
    elif DRIVER == "pysqlite":
        driver_connection.isolation_level = None
    else:
        driver_connection.autocommit = True


def test_a_raw_connection_put_in_the_drivers_autocommit_keeps_what_it_wrote(
    session: scoped_session[Session], db: ScopedDB, connection: TestConnection
) -> None:
    """A raw connection of db.engine that code puts in its driver's autocommit mode keeps what it wrote through
    a rollback, as in production, and the test's own connection stays in its transaction."""
    raw = db.engine.raw_connection()
    try:
        put_in_autocommit(raw.driver_connection)
        raw.cursor().execute(f"INSERT INTO item (name) VALUES ('{CANARY}')")
        raw.rollback()
    finally:
        raw.close()
    assert item_names(session) == [CANARY]
    assert not driver_autocommits(connection.connection.connection.dbapi_connection)


@pytest.mark.skipif(DRIVER not in ("psycopg2", "pymysql", "mysqldb"), reason="autocommit() or set_isolation_level()")
def test_a_test_that_turns_its_own_connections_autocommit_on_fails_and_the_next_starts_clean(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """Turning the driver's autocommit on for the test's own connection (going around SQLAlchemy and the pool)
    fails the test, and the next test has a transaction."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        with pytest.raises(TestFailure, match="autocommit mode"), test_connection.transaction() as session:
            put_in_autocommit(session.connection().connection.driver_connection)
        with test_connection.transaction() as session:
            session.add(Note(text="rolled back"))
            session.commit()
        with test_connection.transaction() as session:
            assert session.scalars(select(Note.text)).all() == []


def test_an_app_whose_engine_autocommits_gets_a_test_transaction_all_the_same(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """An app made with isolation_level="AUTOCOMMIT" commits inside each test, and nothing of it stays."""
    app = make_app(notes_db, SQLALCHEMY_ENGINE_OPTIONS={"isolation_level": "AUTOCOMMIT"})
    with notes_db.test_connection(app) as test_connection:
        with test_connection.transaction() as session:
            session.add(Note(text="rolled back"))
            session.commit()
        with test_connection.transaction() as session:
            assert session.scalars(select(Note.text)).all() == []


@pytest.mark.skipif(BACKEND == "sqlite", reason="a server's new connection after a test that ended its transaction")
def test_an_app_whose_engine_autocommits_gets_a_test_transaction_after_a_reconnect(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """An app made with isolation_level="AUTOCOMMIT" gets a test transaction on the new connection that follows
    a test which ended the outer transaction."""
    app = make_app(notes_db, SQLALCHEMY_ENGINE_OPTIONS={"isolation_level": "AUTOCOMMIT"})
    with notes_db.test_connection(app) as test_connection:
        with pytest.raises(TestFailure, match="ended the outer transaction"), test_connection.transaction() as session:
            session.execute(text("COMMIT"))
        with test_connection.transaction() as session:
            session.add(Note(text="rolled back"))
            session.commit()
        with test_connection.transaction() as session:
            assert session.scalars(select(Note.text)).all() == []


def test_a_connection_left_open_by_an_ended_test_refuses(make_app: t.Callable[..., Flask], notes_db: ScopedDB) -> None:
    """A db.engine connection that a test left open refuses to run anything in a later test, saying why."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        with pytest.raises(TestFailure, match="left 1 connection"), test_connection.transaction():
            left_open = notes_db.engine.connect()
        with test_connection.transaction(), pytest.raises(StatementError, match="left open by a test that has ended"):
            left_open.execute(select(1))
        left_open.close()


def test_a_raw_cursor_kept_from_an_ended_test_refuses(make_app: t.Callable[..., Flask], notes_db: ScopedDB) -> None:
    """A cursor of a raw db.engine connection, kept by code after its test ended, refuses in a later test."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        with test_connection.transaction():
            raw = notes_db.engine.raw_connection()
            cursor = raw.cursor()
            raw.close()
        with test_connection.transaction(), pytest.raises(RuntimeError, match="left open by a test that has ended"):
            cursor.execute("SELECT 1")


def test_an_engine_commit_leaves_a_savepoint_the_test_named_open(
    session: scoped_session[Session], db: ScopedDB
) -> None:
    """A db.engine connection that commits while a savepoint the test named itself (SAVEPOINT in SQL) is open
    above its own leaves that savepoint, for the test to release."""
    with db.engine.connect() as engine_connection:
        engine_connection.execute(insert(Item).values(name="engine"))
        session.execute(text("SAVEPOINT named_by_the_test"))
        session.add(Item(name="session"))
        session.flush()
        engine_connection.commit()
    session.execute(text("RELEASE SAVEPOINT named_by_the_test"))
    assert item_names(session) == ["engine", "session"]


def test_commit_and_rollback_on_an_autocommit_connection_change_nothing(
    session: scoped_session[Session], db: ScopedDB
) -> None:
    """commit() and rollback() on an AUTOCOMMIT connection keep what it wrote, as the drivers' do."""
    with AUTOCOMMIT["connection"](db.engine) as engine_connection:
        engine_connection.execute(insert(Item).values(name=CANARY))
        engine_connection.rollback()
        engine_connection.commit()
    assert item_names(session) == [CANARY]


PLACEHOLDER = "?" if BACKEND == "sqlite" else "%s"


def test_a_raw_cursor_in_assert_num_queries_takes_executemany_and_iterates(
    session: scoped_session[Session], db: ScopedDB, assert_num_queries: t.Callable[[int], t.ContextManager[None]]
) -> None:
    """Inside assert_num_queries, a raw cursor of db.engine runs executemany() and iterates over its rows."""
    raw = db.engine.raw_connection()
    try:
        with assert_num_queries(2):
            cursor: t.Any = raw.cursor()
            cursor.executemany(f"INSERT INTO item (name) VALUES ({PLACEHOLDER})", [("first",), ("second",)])
            cursor.execute("SELECT name FROM item ORDER BY name")
            assert [row[0] for row in cursor] == ["first", "second"]
            cursor.close()
    finally:
        raw.close()


@pytest.mark.skipif(BACKEND == "sqlite", reason="sqlite3's cursors are no context managers")
def test_a_raw_cursor_in_assert_num_queries_closes_as_a_context_manager(
    session: scoped_session[Session], db: ScopedDB, assert_num_queries: t.Callable[[int], t.ContextManager[None]]
) -> None:
    """Inside assert_num_queries, `with raw.cursor() as cursor:` closes the cursor, as the driver's does."""
    raw = db.engine.raw_connection()
    try:
        with assert_num_queries(1), t.cast(t.Any, raw.cursor()) as cursor:
            cursor.execute("SELECT 1")
        with pytest.raises(Exception, match="(?i)closed"):
            cursor.execute("SELECT 1")
    finally:
        raw.close()


@pytest.mark.skipif(BACKEND == "sqlite", reason="pysqlite's autocommit looks like SQLAlchemy's recipe: README, limits")
def test_an_engine_made_to_autocommit_hands_out_autocommit_connections(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """In an app made with isolation_level="AUTOCOMMIT", a db.engine connection's write stands through its
    rollback, as in production."""
    app = make_app(notes_db, SQLALCHEMY_ENGINE_OPTIONS={"isolation_level": "AUTOCOMMIT"})
    with notes_db.test_connection(app) as test_connection, test_connection.transaction() as session:
        with notes_db.engine.connect() as engine_connection:
            engine_connection.execute(insert(Note).values(text="stands"))
            engine_connection.rollback()
        assert session.scalars(select(Note.text)).all() == ["stands"]


def test_assert_num_queries_counts_a_raw_cursor_made_before_the_block(
    session: scoped_session[Session], db: ScopedDB, assert_num_queries: t.Callable[[int], t.ContextManager[None]]
) -> None:
    """assert_num_queries counts what a cursor of db.engine.raw_connection(), made before the block, sends in it."""
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        with assert_num_queries(1):
            cursor.execute("SELECT 1")
        cursor.close()
    finally:
        raw.close()


@pytest.mark.skipif(DRIVER not in ("pysqlite", "psycopg"), reason="a cursor's row_factory attribute")
def test_a_row_factory_set_on_a_raw_cursor_reaches_the_drivers_cursor(
    session: scoped_session[Session], db: ScopedDB
) -> None:
    """Setting row_factory on a cursor of db.engine.raw_connection() changes the rows, as on the driver's own."""
    raw = db.engine.raw_connection()
    try:
        cursor: t.Any = raw.cursor()
        if DRIVER == "pysqlite":
            cursor.row_factory = sqlite3.Row
        else:
            cursor.row_factory = importlib.import_module("psycopg.rows").dict_row
        cursor.execute("SELECT 1 AS one")
        assert cursor.fetchone()["one"] == 1
    finally:
        raw.close()


@pytest.mark.skipif(BACKEND == "mysql", reason="MariaDB has no statement that refuses a transaction")
def test_vacuum_on_an_engine_connection_says_it_cannot_run_in_a_test(
    session: scoped_session[Session], db: ScopedDB
) -> None:
    """A statement that cannot run inside a transaction, on a plain db.engine connection, fails saying so."""
    with db.engine.connect() as engine_connection, pytest.raises(RuntimeError, match="cannot run inside a transaction"):
        engine_connection.exec_driver_sql("VACUUM")


def test_a_session_with_its_own_isolation_level_works_in_a_test(
    session: scoped_session[Session], app: Flask, db: ScopedDB
) -> None:
    """A Session that asks for its own isolation level (SQLAlchemy's per-Session recipe) works inside the test."""
    with app.app_context():
        serializable: t.Any = {"isolation_level": "SERIALIZABLE"}  # SQLAlchemy 2.0.5's stubs want an immutabledict
        db.session.connection(execution_options=serializable)
        db.session.add(Item(name=CANARY))
        db.session.commit()
    assert item_names(session) == [CANARY]


def test_a_session_on_an_engine_with_its_own_isolation_level_works_in_a_test(
    session: scoped_session[Session], db: ScopedDB
) -> None:
    """A Session bound to db.engine.execution_options(isolation_level=...) works inside the test."""
    with Session(db.engine.execution_options(isolation_level="SERIALIZABLE")) as own:
        own.add(Item(name=CANARY))
        own.commit()
    assert item_names(session) == [CANARY]


def test_assert_num_queries_counts_statements_on_a_raw_cursor(
    session: scoped_session[Session], db: ScopedDB, assert_num_queries: t.Callable[[int], t.ContextManager[None]]
) -> None:
    """assert_num_queries counts a statement sent on a cursor of db.engine.raw_connection()."""
    raw = db.engine.raw_connection()
    try:
        with assert_num_queries(1):
            cursor = raw.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
    finally:
        raw.close()


class ItemCounter:
    """Stands in for an extension handed a session once, at set-up, like Flask-Admin's ModelView."""

    def __init__(self, session: scoped_session[Session]) -> None:
        self.session = session

    def count(self) -> int:
        return self.session.query(Item).count()


counter = ItemCounter(db.session)


def test_an_extension_holding_db_session_follows_the_test(session: scoped_session[Session]) -> None:
    """An extension handed db.session at import time sees the test's commits, inside its transaction."""
    session.add(Item(name=CANARY))
    session.commit()
    assert counter.count() == 1


# -- The guards and the clean start, seen from a test run of their own -----------
#
# INNER_TESTS run in file order, with our conftest.py, in a pytest of their own
# (on databases of their own). Each test that misbehaves is followed by one
# that checks it starts clean.

INNER_TESTS = """
import os

import pytest
from flask import has_app_context
from flask.globals import app_ctx
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from conftest import Item

BACKEND = os.environ["TEST_DATABASE_URL"].split(":")[0].split("+")[0]
server_only = pytest.mark.skipif(BACKEND == "sqlite", reason="server only")
FAIL_ONCE = []


def assert_clean(db_session, db):
    assert app_ctx.g.get("mine") is None
    assert db.session() is db_session()
    assert db_session.scalar(select(func.count()).select_from(Item)) == 0
    assert db.session.session_factory.kw["join_transaction_mode"] == "create_savepoint"


def test_commits_through_the_connection(db_session):
    db_session.add(Item(name="committed"))
    db_session.flush()
    db_session.connection().commit()

def test_clean_after_commits_through_the_connection(db_session, db):
    assert_clean(db_session, db)

def test_leaves_a_connection_checked_out(db_session, db):
    global kept
    kept = db.engine.connect()
    kept.execute(text("SELECT 1"))

def test_closes_the_connection_an_earlier_test_left(db_session, db):
    kept.close()
    assert_clean(db_session, db)

def test_commits_with_sql(db_session):
    db_session.add(Item(name="committed with SQL"))
    db_session.flush()
    db_session.execute(text("COMMIT"))

def test_clean_after_commits_with_sql(db_session, db):
    assert_clean(db_session, db)

def test_commits_by_truncate(db_session):
    db_session.add(Item(name="truncated"))
    db_session.flush()
    db_session.execute(text("TRUNCATE TABLE item"))
    db_session.execute(text("SELECT 1"))

def test_clean_after_commits_by_truncate(db_session, db):
    assert_clean(db_session, db)

def test_factory_is_restored_afterwards(db):
    assert db.session.session_factory.kw["bind"] is None
    assert "join_transaction_mode" not in db.session.session_factory.kw

def test_pushes_a_context_and_fails(app, db_session):
    db_session.add(Item(name="left behind"))
    db_session.commit()
    app.app_context().push()
    app_ctx.g.mine = True
    raise AssertionError("failed halfway")

def test_clean_after_pushes_a_context_and_fails(db_session, db):
    assert_clean(db_session, db)

def test_leaves_a_request_context_pushed(app, db_session):
    app.test_request_context().push()
    app_ctx.g.mine = True

def test_clean_after_leaves_a_request_context_pushed(db_session, db):
    assert_clean(db_session, db)

def test_leaves_a_shared_request_context_pushed(app, db_session, requests_share_context):
    app.test_request_context().push()
    app_ctx.g.mine = True

def test_clean_after_leaves_a_shared_request_context_pushed(db_session, db):
    assert_clean(db_session, db)

def test_pushes_its_own_context_again(db_session):
    app_ctx._get_current_object().push()

def test_clean_after_pushes_its_own_context_again(db_session, db):
    assert_clean(db_session, db)

def test_leaves_with_client_open_in_a_shared_context(client, requests_share_context):
    client.__enter__()
    client.get("/items")

def test_clean_after_leaves_with_client_open_in_a_shared_context():
    assert not has_app_context()

def fail_once(exc):
    if FAIL_ONCE:
        FAIL_ONCE.pop()
        raise RuntimeError("another extension's teardown failed")

def test_a_foreign_teardown_raises(app, db_session):
    app.teardown_appcontext_funcs.append(fail_once)
    FAIL_ONCE.append(True)
    db_session.add(Item(name="left behind"))
    db_session.commit()

def test_clean_after_a_foreign_teardown_raises(db_session, db):
    assert_clean(db_session, db)

def test_leaves_a_context_whose_teardown_raises(app, db_session):
    app.teardown_appcontext_funcs.append(fail_once)
    FAIL_ONCE.append(True)
    app.app_context().push()

def test_clean_after_leaves_a_context_whose_teardown_raises(db_session, db):
    assert_clean(db_session, db)

def test_commits_through_the_engine(db_session, db):
    try:
        with db.engine.connect() as connection:
            connection.execute(text("INSERT INTO item (name) VALUES ('committed')"))
            connection.exec_driver_sql("COMMIT")
    except DBAPIError:
        pass  # on SQLite and psycopg2, rolling back to the savepoint the COMMIT took fails at once

def test_clean_after_commits_through_the_engine(db_session, db):
    assert_clean(db_session, db)

def test_writes_through_an_autocommit_connection(db_session, db):
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("INSERT INTO item (name) VALUES ('autocommitted')"))
    assert db_session.scalar(select(func.count()).select_from(Item)) == 1

def test_clean_after_writes_through_an_autocommit_connection(db_session, db):
    assert_clean(db_session, db)

def test_leaves_a_failed_session(db_session):
    db_session.add(Item(name="twice"))
    db_session.commit()
    db_session.add(Item(name="twice"))
    with pytest.raises(IntegrityError):
        db_session.flush()

def test_clean_after_leaves_a_failed_session(db_session, db):
    assert_clean(db_session, db)

@server_only
def test_drops_its_connection(db_session):
    kill = "SELECT pg_terminate_backend(pg_backend_pid())" if BACKEND == "postgresql" else "KILL CONNECTION_ID()"
    with pytest.raises(OperationalError):
        db_session.execute(text(kill))
        db_session.execute(text("SELECT 1"))

@server_only
def test_clean_after_drops_its_connection(db_session, db):
    assert_clean(db_session, db)

@server_only
def test_sets_server_session_state(db_session):
    if BACKEND == "postgresql":
        db_session.execute(text("SELECT pg_advisory_lock(4242)"))
        db_session.execute(text("PREPARE probe AS SELECT 1"))
    else:
        db_session.execute(text("SET time_zone = '+05:00', @probe = 1"))
        db_session.execute(text("CREATE TEMPORARY TABLE probe (x INTEGER)"))
        db_session.execute(text("SELECT GET_LOCK('probe', 0)"))


@server_only
def test_sees_no_server_session_state(db_session, db):
    if BACKEND == "postgresql":
        locks = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        assert db_session.scalar(text(locks)) == 0
        assert db_session.scalar(text("SELECT count(*) FROM pg_prepared_statements")) == 0
    else:
        state = "SELECT @@time_zone = @@global.time_zone, @probe IS NULL, IS_USED_LOCK('probe') IS NULL, @@autocommit"
        assert tuple(db_session.execute(text(state)).one()) == (1, 1, 1, 0)
        with pytest.raises(Exception, match="probe"):
            db_session.execute(text("SELECT * FROM probe"))
    assert_clean(db_session, db)

@server_only
def test_prepares_a_statement_and_opens_a_handler(db_session):
    if BACKEND == "mysql":  # nothing else: no SET, whose own check would replace the connection anyway
        db_session.execute(text("PREPARE probe_statement FROM 'SELECT 1'"))
        db_session.execute(text("HANDLER item OPEN AS probe_handler"))

@server_only
def test_sees_no_prepared_statement_or_handler(db_session, db):
    if BACKEND == "mysql":
        with pytest.raises(Exception, match="probe_statement"):
            db_session.execute(text("EXECUTE probe_statement"))
        with pytest.raises(Exception, match="probe_handler"):
            db_session.execute(text("HANDLER probe_handler READ FIRST"))
    assert_clean(db_session, db)

@server_only
def test_changes_the_current_database(db_session):
    if BACKEND == "mysql":
        db_session.execute(text("USE information_schema"))

@server_only
def test_clean_after_changes_the_current_database(db_session, db):
    assert_clean(db_session, db)

@server_only
def test_keeps_session_state_by_a_commit(db_session):
    if BACKEND == "postgresql":
        db_session.execute(text("SET TIME ZONE 'Asia/Tokyo'"))
        db_session.execute(text("CREATE TEMPORARY TABLE kept (x INTEGER)"))
    else:
        db_session.execute(text("LOCK TABLES item READ"))  # commits implicitly
    db_session.execute(text("COMMIT"))

@server_only
def test_clean_after_keeps_session_state_by_a_commit(db_session, db):
    if BACKEND == "postgresql":
        assert db_session.scalar(text("SELECT current_setting('TimeZone')")) != "Asia/Tokyo"
        assert db_session.scalar(text("SELECT to_regclass('kept')")) is None
    assert_clean(db_session, db)
"""

# What the inner run must report: exactly these tests fail, each for its own reason.
INNER_FAILURES = {
    "ERROR at teardown of test_commits_through_the_connection": "TestFailure: The code under test ended the outer",
    "ERROR at teardown of test_leaves_a_connection_checked_out": r"TestFailure: The code under test left 1 connection\(s\)",
    "ERROR at teardown of test_commits_with_sql": "TestFailure: The code under test ended the outer",
    "FAILED test_pushes_a_context_and_fails": "AssertionError: failed halfway",
    "ERROR at teardown of test_pushes_a_context_and_fails": r"TestFailure: The test left 1 app context\(s\) pushed",
    "ERROR at teardown of test_leaves_a_request_context_pushed": r"TestFailure: The test left 1 app context\(s\) pushed",
    "ERROR at teardown of test_a_foreign_teardown_raises": "TestFailure: A teardown_appcontext function raised RuntimeError",
    "ERROR at teardown of test_leaves_a_context_whose_teardown_raises": r"TestFailure: The test left 1 app context",
    "ERROR at teardown of test_commits_through_the_engine": "TestFailure: The code under test ended the outer",
    "ERROR at teardown of test_pushes_its_own_context_again": "TestFailure: The test pushed its own app context again",
}
for test in ("test_leaves_a_shared_request_context_pushed", "test_leaves_with_client_open_in_a_shared_context"):
    INNER_FAILURES[f"ERROR at teardown of {test}"] = (
        r"TestFailure: The test left 1 request context\(s\) pushed"
        if FLASK < (3, 2)
        else "TestSetupError: requests_share_context keeps a habit of Flask <= 3.1"  # at its set-up, in fact
    )
if BACKEND == "sqlite":
    INNER_FAILURES["FAILED test_commits_by_truncate"] = "OperationalError"  # SQLite has no TRUNCATE
elif BACKEND in ("mysql", "mariadb"):
    INNER_FAILURES["ERROR at teardown of test_commits_by_truncate"] = "TestFailure: The code under test ended the outer"
if BACKEND != "sqlite":
    INNER_FAILURES["ERROR at teardown of test_drops_its_connection"] = "TestFailure: The database server dropped"
    INNER_FAILURES["ERROR at teardown of test_keeps_session_state_by_a_commit"] = (
        "TestFailure: The code under test ended"
    )


def inner_pytest(directory: Path, conftest: str, tests: str, *options: str, **env: str) -> subprocess.Popen[str]:
    """Start ``tests`` with ``conftest`` in a pytest subprocess of their own,
    in file order, with -rA summary lines and warnings as errors."""
    directory.mkdir(exist_ok=True)
    (directory / "conftest.py").write_text(conftest)
    (directory / "test_inner.py").write_text(tests)
    xdist = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID")
    environ = {key: value for key, value in os.environ.items() if key not in xdist}
    environ["COLUMNS"] = "400"  # the summary's reasons in full
    command = [sys.executable, "-m", "pytest", "-rA", "-p", "no:randomly", "-p", "no:cacheprovider", "-W", "error"]
    return subprocess.Popen(
        [*command, *(options or ["-p", "no:xdist"])],
        cwd=directory,
        env={**environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def run_pytest(directory: Path, conftest: str, tests: str, *options: str, **env: str) -> str:
    """Run ``tests`` as :func:`inner_pytest` does; return the report."""
    report, _ = inner_pytest(directory, conftest, tests, *options, **env).communicate(timeout=300)
    return report


def summary(report: str) -> dict[str, str]:
    """The -rA summary of a run: "FAILED test_x" or "ERROR at teardown of test_x" -> reason, for failures."""
    found = re.findall(r"^(FAILED|ERROR) test_inner\.py::(\w+)(?: - (.*))?$", report, re.MULTILINE)
    lines = {}
    for outcome, name, reason in found:
        lines[f"{outcome} {name}" if outcome == "FAILED" else f"ERROR at teardown of {name}"] = reason
    return lines


@pytest.fixture(scope="session")
def inner_run(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Session scope: the report of INNER_TESTS run once with our conftest.py."""
    conftest = Path(__file__).with_name("conftest.py").read_text()
    return run_pytest(tmp_path_factory.mktemp("inner") / "run", conftest, INNER_TESTS)


def test_exactly_the_misbehaving_inner_tests_fail(inner_run: str) -> None:
    """In the inner run, each test that misbehaves fails, and no other test does."""
    assert set(summary(inner_run)) == set(INNER_FAILURES), inner_run


def test_each_inner_failure_names_its_cause(inner_run: str) -> None:
    """Each failure of the inner run says what the test did."""
    reasons = summary(inner_run)
    wrong = {
        test: reasons.get(test)
        for test, cause in INNER_FAILURES.items()
        if not re.search(cause, reasons.get(test) or "")
    }
    assert wrong == {}, inner_run


def test_every_test_after_a_misbehaving_one_starts_clean(inner_run: str) -> None:
    """Every inner test named test_clean_after_... passes, whatever the test before it left behind."""
    clean = re.findall(
        r"^PASSED test_inner\.py::(test_clean_after_\w+|test_closes_the_connection\w+)", inner_run, re.MULTILINE
    )
    expected = re.findall(r"^def (test_clean_after_\w+|test_closes_the_connection\w+)", INNER_TESTS, re.MULTILINE)
    if BACKEND == "sqlite":
        expected = [name for name in expected if name not in re.findall(r"@server_only\ndef (\w+)", INNER_TESTS)]
    assert clean == expected, inner_run


@pytest.mark.skipif(BACKEND == "sqlite", reason="server-session state is a server's")
def test_server_session_state_does_not_reach_the_next_test(inner_run: str) -> None:
    """Advisory locks and prepared statements (PostgreSQL), and session variables, user variables,
    temporary tables and GET_LOCK locks (MariaDB), set by one test are gone in the next."""
    assert re.search(r"^PASSED test_inner\.py::test_sees_no_server_session_state", inner_run, re.MULTILINE), inner_run


def test_the_session_factory_is_restored_after_each_test(inner_run: str) -> None:
    """After a test with db_session, the session factory has the user's options again."""
    assert re.search(r"^PASSED test_inner\.py::test_factory_is_restored_afterwards", inner_run, re.MULTILINE), inner_run


LEAKING_TESTS = """
from sqlalchemy import text

def test_leaves_a_connection_checked_out(db_session, db):
    global kept
    kept = db.engine.connect()
    kept.execute(text("SELECT 1"))

def test_next(db_session):
    pass
"""


@pytest.mark.whole_runs
@pytest.mark.parametrize("pool", ["QueuePool", "NullPool", "StaticPool"])
def test_a_connection_left_open_is_counted_whatever_the_pool(tmp_path: Path, pool: str) -> None:
    """The leak guard reports one connection left open, with QueuePool, NullPool and StaticPool alike."""
    conftest = Path(__file__).with_name("conftest.py").read_text()
    conftest = conftest.replace(
        '{"TESTING": True,', f'{{"TESTING": True, "SQLALCHEMY_ENGINE_OPTIONS": {{"poolclass": {pool}}},'
    )
    conftest = conftest.replace("import pytest\n", f"import pytest\nfrom sqlalchemy.pool import {pool}\n", 1)
    report = run_pytest(tmp_path / "run", conftest, LEAKING_TESTS)
    assert set(summary(report)) == {"ERROR at teardown of test_leaves_a_connection_checked_out"}, report
    assert "left 1 connection(s) of db.engine" in report


SQLITE_MODES = {
    # SQLAlchemy's pysqlite recipe: the driver in autocommit mode, BEGIN sent from a "begin" event.
    "recipe": """
@pytest.fixture(scope="session", autouse=True)
def begin_ourselves(app, db):
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def autocommit(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def begin(connection):
        connection.exec_driver_sql("BEGIN")
""",
    # Python 3.12's PEP 249 mode: the driver opens a transaction itself.
    "pep249": """
@pytest.fixture(scope="session", autouse=True)
def pep_249_mode(app, db):
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "do_connect")
    def autocommit_false(dialect, connection_record, cargs, cparams):
        cparams["autocommit"] = False
""",
}

SQLITE_MODE_TESTS = """
import pytest
from sqlalchemy import event, func, insert, select

from conftest import Item

{mode}

def count(session):
    return session.scalar(select(func.count()).select_from(Item))

def test_commits(db_session):
    db_session.add(Item(name="committed"))
    db_session.commit()
    with db_session.begin_nested():
        db_session.add(Item(name="nested"))
    assert count(db_session) == 2

def test_commits_through_the_engine(db_session, db):
    assert count(db_session) == 0
    with db.engine.begin() as connection:
        connection.execute(insert(Item).values(name="committed"))
    assert count(db_session) == 1

def test_starts_empty(db_session):
    assert count(db_session) == 0
"""


@pytest.mark.whole_runs
@pytest.mark.skipif(BACKEND != "sqlite", reason="pysqlite's transaction modes")
@pytest.mark.parametrize("mode", SQLITE_MODES)
def test_an_sqlite_engine_that_begins_its_own_transactions_works_with_the_pair(tmp_path: Path, mode: str) -> None:
    """The pair steps aside where the app's engine already opens transactions itself (SQLAlchemy's
    pysqlite recipe, or Python 3.12's autocommit=False): commits are rolled back, nothing sends BEGIN twice."""
    if mode == "pep249" and sys.version_info < (3, 12):
        pytest.skip("sqlite3.connect(autocommit=False) is Python 3.12+")
    conftest = Path(__file__).with_name("conftest.py").read_text()
    report = run_pytest(tmp_path / "run", conftest, SQLITE_MODE_TESTS.format(mode=SQLITE_MODES[mode]))
    assert summary(report) == {}, report
    assert "3 passed" in report, report


# The app's own per-connection settings, one numeric and one string, made three ways.
SETTINGS = {
    "mysql": ("SET SESSION lock_wait_timeout = 10, time_zone = '+02:00'", ("10", "+02:00")),
    "postgresql": ("SET lock_timeout = '10s'; SET timezone = 'Asia/Tokyo'", ("10s", "Asia/Tokyo")),
}
SETTINGS_WAYS = {
    "mysql": {
        "in the URL": lambda url, sql: url.update_query_dict({"init_command": sql}),
        "in connect_args": lambda url, sql: url,
    },
    "postgresql": {"in connect_args": lambda url, sql: url},
}
SETTING_EVENT = """
@pytest.fixture(scope="session", autouse=True)
def app_settings(app, db):
    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "connect")
    def settings(dbapi_connection, connection_record):
        cursor = dbapi_connection.cursor()
        cursor.execute({sql!r})
        cursor.close()
        dbapi_connection.commit()
"""
SETTINGS_TESTS = """
import os

import pytest
from sqlalchemy import event, text

{event}

BACKEND = os.environ["TEST_DATABASE_URL"].split(":")[0].split("+")[0]
READ = "SELECT @@session.lock_wait_timeout, @@session.time_zone" if BACKEND == "mysql" else (
    "SELECT current_setting('lock_timeout'), current_setting('timezone')")
CHANGE = "SET SESSION lock_wait_timeout = 20, time_zone = '+05:00'" if BACKEND == "mysql" else (
    "SET SESSION lock_timeout = '20s'; SET SESSION timezone = 'UTC'")

def settings(db_session):
    return tuple(str(value) for value in db_session.execute(text(READ)).one())

def test_sees_the_apps_settings(db_session):
    assert settings(db_session) == {expected!r}

def test_changes_them(db_session):
    db_session.connection().exec_driver_sql(CHANGE)
    assert settings(db_session) != {expected!r}

def test_sees_the_apps_settings_again(db_session):
    assert settings(db_session) == {expected!r}

def test_changes_them_through_the_engine(db_session, db):
    with db.engine.connect() as connection:
        connection.exec_driver_sql(CHANGE)

def test_sees_the_apps_settings_once_more(db_session):
    assert settings(db_session) == {expected!r}
"""
DRIVERS = {"mysql": ["pymysql", "mysqldb"], "postgresql": ["psycopg", "psycopg2"]}


@pytest.mark.whole_runs
@pytest.mark.skipif(BACKEND == "sqlite", reason="a server's session settings")
@pytest.mark.parametrize("way", ["in the URL", "in connect_args", "in a connect event"])
@pytest.mark.parametrize("driver", [0, 1])
def test_the_apps_session_settings_hold_in_every_test_on_every_driver(tmp_path: Path, driver: int, way: str) -> None:
    """Session settings the app makes per connection, numeric and string, in the URL (init_command),
    connect_args or a connect event, hold in every test, also after a test changed them; on both drivers."""
    sql, expected = SETTINGS[BACKEND]
    url = make_url(os.environ["TEST_DATABASE_URL"]).set(drivername=f"{BACKEND}+{DRIVERS[BACKEND][driver]}")
    conftest, event = CONFTEST, ""
    if way == "in a connect event":
        event = SETTING_EVENT.format(sql=sql)
    elif way in SETTINGS_WAYS[BACKEND]:
        url = SETTINGS_WAYS[BACKEND][way](url, sql)
        if way == "in connect_args":
            args = (
                {"init_command": sql}
                if BACKEND == "mysql"
                else {"options": "-c lock_timeout=10s -c timezone=Asia/Tokyo"}
            )
            options = f'"SQLALCHEMY_ENGINE_OPTIONS": {{"connect_args": {args!r}}},'
            conftest = conftest.replace('{"TESTING": True,', f'{{"TESTING": True, {options}')
    else:
        pytest.skip(f"{BACKEND} takes no settings {way}")
    tests = SETTINGS_TESTS.format(event=event, expected=expected)
    report = run_pytest(tmp_path, conftest, tests, TEST_DATABASE_URL=url.render_as_string(hide_password=False))
    assert "5 passed" in report and summary(report) == {}, report


# -- Test runs: a forgotten pair, opt-ins, parallel runs, set-up mistakes -----

CONFTEST = Path(__file__).with_name("conftest.py").read_text()

FORGETFUL_TESTS = """
import pytest
from sqlalchemy import func, select

from conftest import Item
from conftest import db as the_db

def test_forgets_the_pair_in_a_context_of_its_own(app, db):
    with app.app_context():
        db.session.add(Item(name="forgotten"))
        db.session.commit()

def test_forgets_the_pair_with_the_engine(app, db):
    with app.app_context(), db.engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO item (name) VALUES ('forgotten')")

def test_forgets_the_pair_under_pytest_flask(request, app, db):
    if not request.config.pluginmanager.has_plugin("flask"):
        pytest.skip("pytest-flask pushes the context")
    db.session.add(Item(name="forgotten"))
    db.session.commit()

@pytest.mark.usefixtures("db")
def test_forgets_the_pair_naming_only_db():
    the_db.session.add(Item(name="forgotten"))
    the_db.session.commit()

@pytest.fixture
def user(db):
    db.session.add(Item(name="forgotten"))
    db.session.commit()

def test_forgets_the_pair_in_a_fixture_of_its_own(user):
    pass

def test_forgets_the_pair_with_the_engine_and_no_context(db):
    with db.engine.begin() as connection:
        connection.exec_driver_sql("INSERT INTO item (name) VALUES ('forgotten')")

def test_never_touches_the_database(app):
    assert app.config["TESTING"]

def test_finds_no_row(db_session):
    assert db_session.scalar(select(func.count()).select_from(Item)) == 0
"""


@pytest.mark.whole_runs
@pytest.mark.parametrize("pytest_flask", ["with pytest-flask", "without pytest-flask"])
def test_a_test_that_forgets_the_pair_fails_and_writes_nothing(tmp_path: Path, pytest_flask: str) -> None:
    """Using the app's database without db_session fails at once, naming db_session, and leaves no row."""
    options = ["-p", "no:xdist"] if pytest_flask == "with pytest-flask" else ["-p", "no:xdist", "-p", "no:flask"]
    report = run_pytest(tmp_path, CONFTEST, FORGETFUL_TESTS, *options)
    forgetful = {
        "FAILED test_forgets_the_pair_in_a_context_of_its_own",
        "FAILED test_forgets_the_pair_with_the_engine",
        "FAILED test_forgets_the_pair_naming_only_db",
        "ERROR at teardown of test_forgets_the_pair_in_a_fixture_of_its_own",  # at its set-up, in fact
        "FAILED test_forgets_the_pair_with_the_engine_and_no_context",
    }
    if pytest_flask == "with pytest-flask":
        forgetful.add("FAILED test_forgets_the_pair_under_pytest_flask")
    assert set(summary(report)) == forgetful, report
    assert all("outside the fixture pair" in reason and "db_session" in reason for reason in summary(report).values())
    assert re.search(r"^PASSED test_inner\.py::test_finds_no_row", report, re.MULTILINE), report


def test_db_session_with_no_app_context_between_tests_names_the_pair(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """Outside a test and any app context, db.session raises the blocker's message, not Flask's."""
    with (
        notes_db.test_connection(make_app(notes_db)),
        pytest.raises(RuntimeError, match="outside the fixture pair.*name db_session"),
    ):
        notes_db.session.execute(select(1))


def test_db_engine_with_no_app_context_between_tests_names_the_pair(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """Outside a test and any app context, db.engine raises the blocker's message, not Flask's."""
    with (
        notes_db.test_connection(make_app(notes_db)),
        pytest.raises(RuntimeError, match="outside the fixture pair.*name db_session"),
    ):
        notes_db.engine  # noqa: B018


def test_a_thread_of_a_test_with_no_app_context_gets_flasks_message(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """During a test, code with no app context (a bare thread) gets Flask's own message, which is right there."""
    with (
        notes_db.test_connection(make_app(notes_db)) as test_connection,
        test_connection.transaction(),
        concurrent.futures.ThreadPoolExecutor(1) as threads,
        pytest.raises(RuntimeError, match="Working outside of application context"),
    ):
        threads.submit(notes_db.session.execute, select(1)).result()


def test_after_the_run_db_session_with_no_app_context_gets_flasks_message(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """Closing the run gives db.session its own scope back."""
    with notes_db.test_connection(make_app(notes_db)):
        pass
    with pytest.raises(RuntimeError, match="Working outside of application context"):
        notes_db.session.execute(select(1))


LIVE_SERVER_TESTS = """
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select

from conftest import Item


def test_a_live_server_request_that_writes_fails(live_server, db_session):
    request = urllib.request.Request(live_server.url("/items/written"), method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    error.value.close()
    assert error.value.code == 500


def test_finds_no_row(db_session):
    assert db_session.scalar(select(func.count()).select_from(Item)) == 0
"""


@pytest.mark.whole_runs
def test_a_live_server_forked_before_the_tests_transaction_writes_nothing(tmp_path: Path) -> None:
    """pytest-flask's live_server, named before db_session, is forked once the engine is taken over: its request
    that writes fails, and leaves no row."""
    report = run_pytest(tmp_path, CONFTEST, LIVE_SERVER_TESTS, "-p", "no:xdist")
    assert "2 passed" in report and summary(report) == {}, report


OPTED_IN_TESTS = """
from sqlalchemy import func, select

from conftest import Item

def test_writes_without_naming_the_pair(app, db):
    with app.app_context():
        db.session.add(Item(name="inside"))
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Item)) == 1

def test_finds_no_row(db):
    assert db.session.scalar(select(func.count()).select_from(Item)) == 0
"""


@pytest.mark.whole_runs
@pytest.mark.parametrize("scope", ["module", "suite"])
def test_a_module_or_the_suite_can_put_every_test_inside_the_pair(tmp_path: Path, scope: str) -> None:
    """`pytestmark = pytest.mark.usefixtures("db_session")` (a module) or `usefixtures = db_session` (the
    configuration) runs every test inside the pair, named or not."""
    if scope == "module":
        report = run_pytest(
            tmp_path, CONFTEST, 'import pytest\npytestmark = pytest.mark.usefixtures("db_session")\n' + OPTED_IN_TESTS
        )
    else:
        report = run_pytest(tmp_path, CONFTEST, OPTED_IN_TESTS, "-p", "no:xdist", "-o", "usefixtures=db_session")
    assert "2 passed" in report and summary(report) == {}, report


IDS_TESTS = """
import os

import pytest

from conftest import Item

def new_id(db_session, name):
    item = Item(name=name)
    db_session.add(item)
    db_session.commit()
    return item.id

def test_takes_an_id_without_the_opt_in(db_session):
    new_id(db_session, "a")

def test_ids_without_the_opt_in_go_on(db_session):
    assert new_id(db_session, "a") == (1 if os.environ["TEST_DATABASE_URL"].startswith("sqlite") else 2)

@pytest.mark.parametrize("n", [1, 2])
def test_ids_start_at_one(db_session, restart_ids, n):
    assert [new_id(db_session, "a"), new_id(db_session, "b")] == [1, 2]
"""


@pytest.mark.whole_runs
def test_restart_ids_makes_every_test_start_ids_at_one(tmp_path: Path) -> None:
    """With restart_ids each test's first id is 1 on every backend; a test without it is left alone."""
    report = run_pytest(tmp_path, CONFTEST, IDS_TESTS)
    assert "4 passed" in report and summary(report) == {}, report


class Scratch:
    """Databases and users of a test's own on the test server, named with a prefix of their own: close() drops
    them, and the run databases made beside them."""

    def __init__(self) -> None:
        self.prefix = f"fsdb_{os.urandom(4).hex()}"
        self.named = make_url(os.environ["TEST_DATABASE_URL"])
        self.server = create_engine(self.named, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        self.users: list[str] = []

    def sql(self, statement: str) -> t.Sequence[t.Any]:
        with self.server.connect() as connection:
            result = connection.exec_driver_sql(statement)
            return result.scalars().all() if result.returns_rows else []

    def database(self, name: str = "", options: str = "") -> URL:
        """A new database, ``<prefix><name>``, made with ``options``."""
        self.sql(f"CREATE DATABASE {self.prefix}{name} {options}")
        return self.named.set(database=f"{self.prefix}{name}")

    def user(self, url: URL) -> URL:
        """``url`` with a new user that may use its database and nothing more (no right to create databases)."""
        if BACKEND == "postgresql":
            self.sql(f"CREATE ROLE {self.prefix} LOGIN")
        else:
            self.sql(f"CREATE USER {self.prefix}")
            self.sql(f"GRANT ALL ON {url.database}.* TO {self.prefix}")
        self.users.append(self.prefix)
        return url.set(username=self.prefix)

    def close(self) -> None:
        # No percent sign (a LIKE pattern's): the drivers would read it as a placeholder.
        if BACKEND == "postgresql":
            for name in self.sql(f"SELECT datname FROM pg_database WHERE starts_with(datname, '{self.prefix}')"):
                self.sql(f"DROP DATABASE {name} WITH (FORCE)")
        else:
            schemata = "SELECT schema_name FROM information_schema.schemata WHERE LEFT(schema_name, 13)"
            for name in self.sql(f"{schemata} = '{self.prefix}'"):
                self.sql(f"DROP DATABASE {name}")
        for user in self.users:
            self.sql(f"DROP {'ROLE' if BACKEND == 'postgresql' else 'USER'} {user}")
        self.server.dispose()


SEEDED_TESTS = '''
import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Item
from flask_scoped_db import TestConnection

Path("database.txt").write_text(os.environ["TEST_DATABASE_URL"])


@pytest.fixture(scope="session")
def seeded_items(connection: TestConnection) -> None:
    """Session scope: rows that every test which names it sees, committed once, before its first test's
    transaction; they go with the tables at the end of the run."""
    with Session(bind=connection.connection) as session:
        session.add_all([Item(name="seeded 1"), Item(name="seeded 2")])
        session.commit()


def test_sees_the_seeded_rows(db_session, seeded_items):
    assert db_session.scalars(select(Item.name).order_by(Item.id)).all() == ["seeded 1", "seeded 2"]

def test_moves_the_ids_on(db_session, seeded_items):
    db_session.add(Item(name="rolled back"))
    db_session.commit()

def test_takes_the_next_id_with_restart_ids(db_session, seeded_items, restart_ids):
    item = Item(name="new")
    db_session.add(item)
    db_session.commit()
    assert item.id == 3
'''


@pytest.fixture(scope="session")
def seeded_run(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[tuple[str, str]]:
    """Session scope: the report of SEEDED_TESTS, run on a database of their own, and that run's database URL."""
    directory = tmp_path_factory.mktemp("seeded")
    if BACKEND == "sqlite":
        yield run_pytest(directory, CONFTEST, SEEDED_TESTS), (directory / "database.txt").read_text()
        return
    scratch = Scratch()
    try:
        url = scratch.database().render_as_string(hide_password=False)
        yield (
            run_pytest(directory, CONFTEST, SEEDED_TESTS, TEST_DATABASE_URL=url),
            (directory / "database.txt").read_text(),
        )
    finally:
        scratch.close()


@pytest.mark.whole_runs
def test_restart_ids_goes_on_after_the_rows_seeded_for_the_run(seeded_run: tuple[str, str]) -> None:
    """With rows committed for the run (ids 1 and 2), a restart_ids test inserts without a key collision and
    gets id 3 on every backend, even after an earlier test moved the ids on."""
    report, _ = seeded_run
    assert "3 passed" in report and summary(report) == {}, report


@pytest.mark.whole_runs
def test_rows_seeded_for_the_run_through_the_connection_are_seen_by_its_tests_and_gone_after_it(
    seeded_run: tuple[str, str],
) -> None:
    """The README's recipe: rows a session-scoped fixture commits through connection.connection are seen by the
    tests of the run, and are gone (with the tables) once it ends."""
    report, url = seeded_run
    assert re.search(r"^PASSED test_inner\.py::test_sees_the_seeded_rows", report, re.MULTILINE), report
    engine = create_engine(url, poolclass=NullPool)
    try:
        assert not inspect(engine).has_table("item")
    finally:
        engine.dispose()


def test_the_blockers_message_says_how_to_write_rows_that_tests_share(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """Outside a test (a fixture seeding through db.session), db.engine refuses with a message that also says
    how to write rows that many tests share."""
    app = make_app(notes_db)
    seeding = r"a fixture of module, class or session scope that takes shared_session"
    with notes_db.test_connection(app), app.app_context(), pytest.raises(RuntimeError, match=seeding):
        notes_db.engine.connect()


SLOW_TESTS = """
import os
import time
from pathlib import Path

import pytest

from sqlalchemy import func, select

from conftest import Item

# Each process of the run (each xdist worker) says which database it was given.
Path(f"database_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.txt").write_text(os.environ["TEST_DATABASE_URL"])

def test_writes_while_another_run_does(db_session):
    for n in range(20):
        db_session.add(Item(name=f"item {n}"))
        db_session.commit()
        time.sleep(0.02)
    assert db_session.scalar(select(func.count()).select_from(Item)) == 20

@pytest.mark.parametrize("n", range(4))  # one test for each of four workers
def test_waits_for_its_signal(db_session, n):
    while os.environ.get("WAIT_FOR") and not os.path.exists(os.environ["WAIT_FOR"]):
        time.sleep(0.05)
"""


def databases_used(directory: Path) -> set[str]:
    """The databases that the processes of an inner run in ``directory`` were given."""
    return {path.read_text() for path in directory.glob("database_*.txt")}


@pytest.mark.whole_runs
@pytest.mark.skipif(IS_SQLITE_MEMORY, reason="each process has an in-memory database of its own")
def test_two_runs_at_once_on_one_server_get_databases_of_their_own(tmp_path: Path) -> None:
    """Two runs started together each take a database of their own, and both pass."""
    runs = [inner_pytest(tmp_path / f"run{n}", CONFTEST, SLOW_TESTS) for n in (1, 2)]
    reports = [run.communicate(timeout=300)[0] for run in runs]
    assert ["5 passed" in report for report in reports] == [True, True], reports
    first, second = databases_used(tmp_path / "run1"), databases_used(tmp_path / "run2")
    assert len(first) == len(second) == 1 and first != second


def wait_for(condition: t.Callable[[], bool]) -> None:
    for _ in range(600):
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


@pytest.mark.whole_runs
@pytest.mark.skipif(IS_SQLITE_MEMORY, reason="an SQLite :memory: database dies with its process")
def test_a_killed_runs_databases_are_reused_by_the_next_run_and_a_live_ones_never_touched(tmp_path: Path) -> None:
    """A run killed with SIGKILL under -n 4 leaves four databases; a later -n 2 run reuses two of them, never
    those of a run that is still going, and all three runs' tests see only their own rows."""
    signal_file = tmp_path / "go"
    live = inner_pytest(tmp_path / "live", CONFTEST, SLOW_TESTS, "-n", "2", WAIT_FOR=str(signal_file))
    killed = inner_pytest(tmp_path / "killed", CONFTEST, SLOW_TESTS, "-n", "4", WAIT_FOR=str(signal_file))
    try:
        wait_for(lambda: len(databases_used(tmp_path / "live")) == 2 and len(databases_used(tmp_path / "killed")) == 4)
        os.killpg(killed.pid, signal.SIGKILL)
        killed.communicate()
        later = run_pytest(tmp_path / "later", CONFTEST, SLOW_TESTS, "-n", "2")
        assert "5 passed" in later, later
        assert databases_used(tmp_path / "later") < databases_used(tmp_path / "killed")
        signal_file.touch()
        assert "5 passed" in live.communicate(timeout=300)[0]
    finally:
        signal_file.touch()
        if live.returncode is None:
            live.communicate(timeout=300)


LEFTOVER_TESTS = """
import os

from sqlalchemy import create_engine, inspect

def test_leaves_a_table_behind():
    engine = create_engine(os.environ["TEST_DATABASE_URL"])
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE left_behind (x INTEGER)")
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("CREATE SCHEMA left_behind_schema")
        elif connection.dialect.name == "mysql":
            connection.exec_driver_sql("CREATE PROCEDURE left_behind_procedure() SELECT 1")
    engine.dispose()

def test_finds_nothing_but_the_models(db_session):
    connection = db_session.connection()
    assert inspect(connection).get_table_names() == ["item"]
    if connection.dialect.name == "postgresql":
        assert "left_behind_schema" not in inspect(connection).get_schema_names()
    elif connection.dialect.name == "mysql":
        routines = "SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = DATABASE()"
        assert connection.exec_driver_sql(routines).scalar() == 0
"""


@pytest.mark.whole_runs
@pytest.mark.skipif(IS_SQLITE_MEMORY, reason="an SQLite :memory: database dies with its process")
@pytest.mark.parametrize("create_db", [[], ["--create-db"]])
def test_the_next_run_reuses_the_database_emptied(tmp_path: Path, create_db: list[str]) -> None:
    """A run reuses the database an earlier run left, with nothing in it but the models' tables: no other table,
    schema (PostgreSQL) or procedure (MariaDB); with --create-db, a database made anew."""
    first = run_pytest(tmp_path / "first", CONFTEST, LEFTOVER_TESTS, "-k", "leaves")
    assert "1 passed" in first, first
    second = run_pytest(tmp_path / "second", CONFTEST, LEFTOVER_TESTS, "-p", "no:xdist", "-k", "finds", *create_db)
    assert "1 passed" in second, second


OID_TESTS = """
from sqlalchemy import text

def test_records_its_database(db_session):
    oid = db_session.scalar(text("SELECT oid FROM pg_database WHERE datname = current_database()"))
    with open("oids.txt", "a") as oids:
        oids.write(f"{oid}\\n")
"""


@pytest.mark.whole_runs
@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL names each database it makes with a new oid")
def test_create_db_makes_the_database_anew_where_a_plain_run_reuses_it(tmp_path: Path) -> None:
    """Three runs one after the other: the second reuses the first's database, --create-db makes a new one."""
    for options in ([], [], ["--create-db"]):
        assert "1 passed" in run_pytest(tmp_path, CONFTEST, OID_TESTS, "-p", "no:xdist", *options)
    first, second, third = (tmp_path / "oids.txt").read_text().split()
    assert first == second != third


@pytest.mark.whole_runs
@pytest.mark.skipif(IS_SQLITE_MEMORY, reason="an SQLite :memory: database dies with its process")
def test_a_database_of_a_slots_name_that_is_not_ours_is_never_touched(tmp_path: Path) -> None:
    """Where a database of a slot's name exists that a test run did not make, the run takes the next slot and
    leaves that database as it was."""
    named = make_url(os.environ["TEST_DATABASE_URL"])

    def slot(n: int) -> URL:
        if BACKEND == "sqlite":
            path = Path(named.database or "")
            return named.set(database=str(path.with_stem(f"{path.stem}_run{n}")))
        return named.set(database=f"{named.database}_run{n}")

    foreign = slot(0)
    server = create_engine(named, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    quoted = server.dialect.identifier_preparer.quote(foreign.database or "")
    if BACKEND == "sqlite":
        Path(foreign.database or "").unlink(missing_ok=True)
    else:
        with server.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {quoted}")
            connection.exec_driver_sql(f"CREATE DATABASE {quoted}")
    engine = create_engine(foreign, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE precious (x INTEGER)")
        report = run_pytest(tmp_path, CONFTEST, SLOW_TESTS)
        assert "5 passed" in report, report
        assert databases_used(tmp_path) == {slot(1).render_as_string(hide_password=False)}
        assert inspect(engine).get_table_names() == ["precious"]
    finally:
        engine.dispose()
        if BACKEND == "sqlite":
            Path(foreign.database or "").unlink()
        else:
            with server.connect() as connection:
                connection.exec_driver_sql(f"DROP DATABASE {quoted}")
        server.dispose()


SETUP_MISTAKES = {
    "a database that does not exist": ("does not exist on", "CREATE DATABASE no_such_database"),
    "a user the server refuses": ("refused the user 'nobody_here'", "check the user and password"),
    "no server at that address": ("Cannot reach", "start the server"),
    "a backend conftest.py cannot serve": ("creates test databases on", "SQLite, PostgreSQL and"),
    "a driver that is not installed": ("which cannot be loaded", "install its package"),
    "a URL that does not parse": ("is not a database URL: '***@127.0.0.1/test'", "dialect+driver://"),
    "a server URL without a database name": ("names no database", "add the name of one that exists"),
    "an SQLite file in a folder that does not exist": ("no_such_folder, a folder that does not exist", "create it"),
}
SERVER_MISTAKES = {"a database that does not exist", "a user the server refuses", "no server at that address"}
SERVER_MISTAKES.add("a server URL without a database name")
MISSING_DRIVERS = {"sqlite": "sqlite+pysqlcipher", "postgresql": "postgresql+pg8000", "mysql": "mysql+mysqlconnector"}


def mistaken_url(mistake: str) -> str:
    """The run's server URL, changed to make ``mistake``."""
    url = make_url(os.environ["TEST_DATABASE_URL"])
    if mistake == "a database that does not exist":
        return url.set(database="no_such_database").render_as_string()
    if mistake == "a user the server refuses":
        return url.set(username="nobody_here").render_as_string()
    if mistake == "no server at that address":
        return url.set(host="127.0.0.1", port=1).render_as_string()
    if mistake == "a driver that is not installed":
        return url.set(drivername=MISSING_DRIVERS[BACKEND]).render_as_string()
    if mistake == "a URL that does not parse":
        return "postgresql//app:secret@127.0.0.1/test"
    if mistake == "a server URL without a database name":
        return url._replace(database=None).render_as_string()  # set() keeps what is None
    if mistake == "an SQLite file in a folder that does not exist":
        return "sqlite:///no_such_folder/test.db"
    return "oracle://scott@127.0.0.1/orcl"


@pytest.mark.whole_runs
@pytest.mark.parametrize("mistake", SETUP_MISTAKES)
def test_a_setup_mistake_fails_once_saying_what_to_do(tmp_path: Path, mistake: str) -> None:
    """Each set-up mistake stops a -n 2 run once, with one message naming the problem and the fix, and an
    exit code that is neither 0 nor 5 ("no tests ran")."""
    if BACKEND == "sqlite" and mistake in SERVER_MISTAKES:
        pytest.skip("SQLite has no server, users or missing databases")
    if BACKEND != "sqlite" and "SQLite" in mistake:
        pytest.skip("an SQLite URL's mistake, whatever the backend: tested on SQLite")
    problem, fix = SETUP_MISTAKES[mistake]
    run = inner_pytest(tmp_path, CONFTEST, SLOW_TESTS, "-n", "2", TEST_DATABASE_URL=mistaken_url(mistake))
    report = run.communicate(timeout=300)[0]
    assert run.returncode == 4, report  # pytest's "usage error": never 0, nor 5 ("no tests ran")
    assert report.count(problem) == 1 and fix in report and "secret" not in report, report


def test_a_url_without_its_scheme_separator_is_named_with_all_before_its_last_at_sign_masked() -> None:
    """A SQLALCHEMY_DATABASE_URI without :// that does not parse is named with whatever could be credentials
    masked: all that stands before its last @."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql//app:s3cret@host/db"
    with pytest.raises(RuntimeError, match=r"is not a database URL: '\*\*\*@host/db'") as raised:
        ScopedDB(app)
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize("url", ["postgresql//app:s3cret@host/db", "postgresql://app:s3cret@host:port/db"])
def test_a_test_database_url_that_does_not_parse_is_a_setup_error_with_its_password_masked(url: str) -> None:
    """TestDatabase(url) with a URL that does not parse raises a TestSetupError that names it, password masked."""
    with pytest.raises(TestSetupError, match=r"The test database URL is not a database URL: '.*\*\*\*@host") as raised:
        TestDatabase(url)
    assert "s3cret" not in str(raised.value)


@pytest.mark.skipif(BACKEND == "sqlite", reason="SQLite has no users")
def test_a_user_who_may_not_create_databases_is_named_with_the_right_to_grant() -> None:
    """A user without the right to create databases gets a TestSetupError from open() that names the user, the
    right and how to grant it (a role without CREATEDB; a MariaDB user with rights on the named database only)."""
    scratch = Scratch()
    database = None
    try:
        database = TestDatabase(scratch.user(scratch.database()))
        grant = f"ALTER ROLE {scratch.prefix} CREATEDB" if BACKEND == "postgresql" else f"`{scratch.prefix}_run%`.*"
        with pytest.raises(
            TestSetupError, match=f"The user '{scratch.prefix}' may not make the run's database"
        ) as raised:
            database.open()
        assert grant in str(raised.value) and "point the test database URL at a user that has it" in str(raised.value)
    finally:
        if database is not None:
            database.close()
        scratch.close()


@pytest.mark.whole_runs
@pytest.mark.skipif(BACKEND == "sqlite", reason="SQLite has no users")
def test_a_user_who_may_not_create_databases_stops_a_parallel_run_once(tmp_path: Path) -> None:
    """Under -n 2, a user without the right to create databases stops the run once, with one message and exit 4."""
    scratch = Scratch()
    try:
        url = scratch.user(scratch.database()).render_as_string(hide_password=False)
        run = inner_pytest(tmp_path, CONFTEST, SLOW_TESTS, "-n", "2", TEST_DATABASE_URL=url)
        report = run.communicate(timeout=300)[0]
        assert run.returncode == 4, report
        assert report.count(f"The user '{scratch.prefix}' may not make the run's database") == 1, report
    finally:
        scratch.close()


@pytest.mark.whole_runs
@pytest.mark.skipif(BACKEND == "sqlite", reason="PostgreSQL's 63 bytes and MariaDB's 64 characters for a name")
def test_a_long_database_name_gives_each_worker_a_database_of_its_own(tmp_path: Path) -> None:
    """Under -n 2, a named database whose name is as long as the server allows gives each worker a database of its
    own, whose name fits: the name is cut before _runN, never after it."""
    scratch = Scratch()
    try:
        url = scratch.database("_" + "x" * (62 - len(scratch.prefix)))
        assert len(url.database or "") == 63
        report = run_pytest(tmp_path, CONFTEST, SLOW_TESTS, "-n", "2", TEST_DATABASE_URL=url.render_as_string())
        assert "5 passed" in report, report
        used = {make_url(used).database or "" for used in databases_used(tmp_path)}
        assert len(used) == 2 and all(len(name.encode()) <= 63 for name in used), used
        assert sorted(name[-5:] for name in used) == ["_run0", "_run1"]
    finally:
        scratch.close()


@pytest.mark.skipif(BACKEND != "mysql", reason="MariaDB's character set and collation of a database")
def test_the_runs_database_takes_the_named_databases_character_set_and_collation() -> None:
    """On MariaDB the run's database has the character set and collation of the named database, made or made anew."""
    scratch = Scratch()
    try:
        named = scratch.database(options="CHARACTER SET latin1 COLLATE latin1_general_cs")
        for _ in ("made", "made anew"):
            database = TestDatabase(named)
            engine = create_engine(database.open(), poolclass=NullPool)
            with engine.connect() as connection:
                collation = "SELECT @@character_set_database, @@collation_database"
                assert connection.exec_driver_sql(collation).one() == ("latin1", "latin1_general_cs")
            engine.dispose()
            database.close()
    finally:
        scratch.close()


@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's schemas")
def test_the_runs_database_has_the_named_databases_schemas_empty_whether_made_or_reused() -> None:
    """On PostgreSQL the run's database has the named database's schemas (their names; none of what is in them),
    made or reused and emptied, so models with schema= can be created in it."""
    scratch = Scratch()
    try:
        named = scratch.database()
        engine = create_engine(named, poolclass=NullPool)
        with engine.begin() as connection:
            connection.exec_driver_sql('CREATE SCHEMA sales; CREATE SCHEMA "Odd name"; CREATE TABLE sales.kept (x int)')
        engine.dispose()
        for _ in ("made", "reused"):
            database = TestDatabase(named)
            engine = create_engine(database.open(), poolclass=NullPool)
            assert {"sales", "Odd name", "public"} <= set(inspect(engine).get_schema_names())
            assert inspect(engine).get_table_names(schema="sales") == []
            with engine.begin() as connection:
                connection.exec_driver_sql("CREATE TABLE sales.kept (x int)")
            engine.dispose()
            database.close()
    finally:
        scratch.close()


# -- The README's code -------------------------------------------------------------

HERE = Path(__file__).parent


def code_lines(path: Path, start: str = "", end: str = "") -> int:
    """The lines of code of ``path`` from the line ``start`` up to the line ``end`` (the whole file by
    default): no blank, comment or docstring lines."""
    source = path.read_text()
    lines = source.splitlines()
    first = lines.index(start) + 1 if start else 1
    last = lines.index(end) + 1 if end else len(lines) + 1
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            docstrings.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    code: set[int] = set()
    skipped = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skipped:
            code.update(range(token.start[0], token.end[0] + 1))
    return len({line for line in code - docstrings if first <= line < last})


def test_the_readmes_line_counts_are_the_files_within_a_tenth() -> None:
    """The README's "about N lines of code" for the runtime part, the test part and conftest.py hold."""
    readme = (HERE / "README.md").read_text()
    stated = re.search(
        r"about (\d+) lines of code built .*?test part of about (\d+) .*?of about (\d+) lines", readme, re.DOTALL
    )
    assert stated is not None
    module, heading = (
        HERE / "flask_scoped_db.py",
        "# The test part: every test inside one transaction that is rolled back.",
    )
    counted = (code_lines(module, end=heading), code_lines(module, start=heading), code_lines(HERE / "conftest.py"))
    assert all(abs(int(said) - real) <= real / 10 for said, real in zip(stated.groups(), counted)), counted


def test_every_line_the_readme_names_in_the_conftest_is_there() -> None:
    """The README names the lines that start and end the conftest's example part (and its other marker lines)
    as they are in conftest.py: a copy edited by the README finds them."""
    named = re.findall(r"`(# -- [^`]*)`", (HERE / "README.md").read_text())
    lines = (HERE / "conftest.py").read_text().splitlines()
    assert {"# -- The example app.", "# -- End of the example part."} <= set(named)
    assert [line for line in named if not any(conftest_line.startswith(line) for conftest_line in lines)] == []


def test_every_python_block_in_the_readme_is_code_the_suite_runs() -> None:
    """Each Python block of README.md (a block in a list item taken out of the item's indentation) appears
    verbatim in a file that these tests run (a method shown on its own, as ruff formats it there, one
    indentation level deeper)."""
    found = re.findall(r"^( *)```python\n(.*?)^\1```", (HERE / "README.md").read_text(), re.DOTALL | re.MULTILINE)
    blocks = [textwrap.dedent(block) for _, block in found]
    sources = [path.read_text() for path in [HERE / "conftest.py", Path(__file__), *HERE.glob("examples/**/*.py")]]
    assert blocks
    missing = [block for block in blocks if not any(block in source for source in sources)]
    assert [block for block in missing if not any(textwrap.indent(block, "    ") in s for s in sources)] == []


@pytest.mark.whole_runs
@pytest.mark.parametrize(
    ("module", "passed"), [("test_todo.py", 4), ("test_todo_shared.py", 3), ("test_migrations.py", 1)]
)
def test_the_examples_pass_on_the_fixture_pair(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, module: str, passed: int
) -> None:
    """The README's example app and its tests pass with conftest.py as it is, in a run of their own."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    pytester.makeconftest((HERE / "conftest.py").read_text())
    shutil.copytree(HERE / "examples", pytester.path, dirs_exist_ok=True)
    # The live server's test skips in memory, which another process cannot read.
    skipped = int(module == "test_todo.py" and not make_url(os.environ["TEST_DATABASE_URL"]).database)
    run = pytester.runpytest_subprocess(module, "-p", "no:cacheprovider")
    run.assert_outcomes(passed=passed - skipped, skipped=skipped)


# -- Migrating: the README's recipes, and apps before and after ----------------------

import contextlib
import importlib
import importlib.metadata
import random

from sqlalchemy import Column
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import Table
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import declared_attr

sys.path.insert(0, str(HERE / "examples"))  # the examples import each other as the README shows

import migrate_fsa_after
import migrate_handwired_before
import recipes
import second_database


def flask_sqlalchemy_31() -> t.Any:
    """Flask-SQLAlchemy, which the comparisons need in version 3.1 or newer; skip without it."""
    try:
        version = importlib.metadata.version("flask-sqlalchemy")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("Flask-SQLAlchemy is not installed: pip install -e '.[test]'")
    if tuple(int(part) for part in version.split(".")[:2]) < (3, 1):
        pytest.skip(f"Flask-SQLAlchemy {version} is here; the comparisons need 3.1 (which needs SQLAlchemy>=2.0.16)")
    return importlib.import_module("flask_sqlalchemy")


CLASS_NAMES = [
    "User", "HTTPResponse", "URLMap", "Model2Thing", "ABC", "A", "IPv4Address", "OAuth2Token", "XMLHttpRequest",
    "HTML5Parser", "V2", "User2Role", "camelCase", "snake_case", "Mixed_Case", "AbcDEFGhi", "ThisIsALongName",
    "AB12CD", "S3Bucket", "Page404", "UserAPIKey", "APIv2Key", "_Private", "Already_Snake_Case", "X509Cert",
]  # fmt: skip


def declare_models(model: type[t.Any], names: list[str]) -> dict[str, t.Any]:
    """Declare the same models on ``model``: plain names, mixins, abstract bases and inheritance;
    return what each one ends up with (table name, own table, mapped table)."""
    made: list[type[t.Any]] = []

    def declare(name: str, *bases: type[t.Any], **namespace: t.Any) -> type[t.Any]:
        cls = type(name, bases or (model,), {"__module__": __name__, **namespace})
        made.append(cls)
        return cls

    def key() -> Column[int]:
        return Column(Integer, primary_key=True)

    class NamedMixin:
        __tablename__ = "from_mixin"

    class DeclaredMixin:
        @declared_attr.directive
        def __tablename__(cls: type[t.Any]) -> str:
            return f"declared_{cls.__name__.lower()}"

    for name in names:
        declare(name, id=key())
    declare("UsesNamedMixin", NamedMixin, model, id=key())
    declare("UsesDeclaredMixin", DeclaredMixin, model, id=key())
    abstract = declare("AbstractThing", __abstract__=True, created=Column(Integer))
    declare("ConcreteThing", abstract, id=key())
    named_abstract = declare("NamedAbstract", __abstract__=True, __tablename__="from_abstract")
    declare("FromNamedAbstract", named_abstract, id=key())
    declare("ExplicitName", __tablename__="my_explicit", id=key())
    declare("GivenTable", __table__=Table("given_table", model.metadata, Column("id", Integer, primary_key=True)))
    parent = declare("ParentModel", id=key(), kind=Column(String(20)))
    declare("JoinedChild", parent, id=Column(ForeignKey("parent_model.id"), primary_key=True))
    single = declare("SingleChild", parent, extra=Column(String(20)))
    declare("SingleGrandChild", single, more=Column(String(20)))
    named_parent = declare("NamedParent", __tablename__="the_parent", id=key())
    declare("JoinedOfNamed", named_parent, id=Column(ForeignKey("the_parent.id"), primary_key=True))
    declare("SingleOfNamed", named_parent, note=Column(String(20)))

    def outcome(cls: type[t.Any]) -> tuple[t.Any, ...]:
        mapped = None if cls.__dict__.get("__abstract__") else sa_inspect(cls)
        tables = (mapped.local_table.name, [table.name for table in mapped.tables]) if mapped else None
        return (getattr(cls, "__tablename__", None), "__table__" in cls.__dict__, tables)

    return {"tables": sorted(model.metadata.tables), **{cls.__name__: outcome(cls) for cls in made}}


def random_class_names(count: int) -> list[str]:
    """``count`` CamelCase-ish identifiers with acronyms, digits and underscores, from a fixed seed."""
    rng = random.Random(11)
    parts = ["User", "HTTP", "URL", "Map", "2", "404", "v", "Id", "API", "_", "X", "Item", "ABC", "s", "Q9"]
    names = {"".join(rng.choices(parts, k=rng.randint(1, 4))) for _ in range(count * 2)}
    return sorted(name for name in names if name.isidentifier() and name not in CLASS_NAMES)[:count]


def test_table_name_recipe_names_tables_as_flask_sqlalchemy() -> None:
    """recipes.Base gives every model the table name and table Flask-SQLAlchemy 3.1 gives it."""
    flask_sqlalchemy = flask_sqlalchemy_31()

    class FsaBase(DeclarativeBase):
        pass

    class RecipeBase(recipes.Base):
        __abstract__ = True
        metadata = MetaData()

    names = CLASS_NAMES + random_class_names(100)
    ours = declare_models(RecipeBase, names)
    theirs = declare_models(flask_sqlalchemy.SQLAlchemy(model_class=FsaBase).Model, names)
    assert len(names) == 125
    assert ours == theirs
    assert ours["HTTPResponse"][0] == "http_response" and ours["Model2Thing"][0] == "model2_thing"
    assert ours["SingleGrandChild"] == ("parent_model", False, ("parent_model", ["parent_model"]))


def pagination_snapshot(page: t.Any) -> dict[str, t.Any]:
    """Everything a template reads from a Pagination, ``prev()`` and ``next()`` included."""
    attributes = ["page", "per_page", "total", "items", "pages", "first", "last"]
    attributes += ["has_prev", "has_next", "prev_num", "next_num", "max_per_page"]
    snapshot = {name: getattr(page, name) for name in attributes}
    snapshot["iter"] = list(page)
    for edges in [(2, 2, 4, 2), (0, 0, 0, 0), (1, 1, 1, 1), (3, 0, 10, 0), (0, 5, 0, 5), (5, 5, 5, 5)]:
        settings = dict(zip(["left_edge", "left_current", "right_current", "right_edge"], edges, strict=True))
        snapshot[f"iter_pages{edges}"] = list(page.iter_pages(**settings))
    for turn in ("prev", "next"):
        turned = getattr(page, turn)()
        snapshot[turn] = {name: getattr(turned, name) for name in attributes}
    return snapshot


def paginated(make: t.Callable[..., t.Any], rows: list[int], options: dict[str, t.Any]) -> t.Any:
    """The snapshot of the Pagination that ``make(rows, options)`` returns, or "404"."""
    try:
        return pagination_snapshot(make(rows, options))
    except NotFound:
        return "404"


def recipe_pagination(rows: list[int], options: dict[str, t.Any]) -> recipes.Pagination:
    """recipes.Pagination over a list."""
    return recipes.Pagination(lambda limit, offset: rows[offset : offset + limit], lambda: len(rows), **options)


def test_pagination_recipe_matches_flask_sqlalchemy_on_random_cases() -> None:
    """recipes.Pagination has Flask-SQLAlchemy 3.1's attributes, pages and 404s, on 3,000 random cases."""
    flask_sqlalchemy_31()
    from flask_sqlalchemy.pagination import Pagination as FsaPagination

    class ListPagination(FsaPagination):
        def _query_items(self) -> list[t.Any]:
            return list(self._query_args["rows"][self._query_offset :][: self.per_page])

        def _query_count(self) -> int:
            return len(self._query_args["rows"])

    app = Flask(__name__)
    rng = random.Random(11)
    args = [None, "", "abc", "-1", "0", "1", "2", "3", "7", "25", "1.5"]
    outcomes: list[t.Any] = []
    for _ in range(3000):
        rows = list(range(rng.choice([0, 1, 5, 19, 20, 21, 100, 250, rng.randint(0, 500)])))
        options: dict[str, t.Any] = {
            "page": rng.choice([None, None, -1, 0, 1, 2, 3, 5, 9, 12, 30, rng.randint(1, 60)]),
            "per_page": rng.choice([None, None, -3, 0, 1, 2, 7, 10, 20, 50, 150]),
            "max_per_page": rng.choice([None, 100, 10, 3]),
            "error_out": rng.choice([True, False]),
            "count": rng.random() < 0.9,
        }
        query = {name: value for name in ("page", "per_page") if (value := rng.choice(args)) is not None}
        with app.test_request_context(query_string=query) if rng.random() < 0.5 else contextlib.nullcontext():
            theirs = paginated(lambda rows, options: ListPagination(rows=rows, **options), rows, options)
            ours = paginated(recipe_pagination, rows, options)
        assert ours == theirs, (rows, options, query)
        outcomes.append(theirs)
    assert 800 < sum(outcome == "404" for outcome in outcomes) < 2200


@pytest.fixture(params=["before", "after"])
def blog(request: pytest.FixtureRequest) -> t.Iterator[tuple[t.Any, Flask]]:
    """The blog app on Flask-SQLAlchemy 3.1 (before) and on ScopedDB (after), on TEST_DATABASE_URL,
    with articles "a1" to "a7", all but "a2" and "a5" published."""
    if request.param == "before":
        flask_sqlalchemy_31()
    module: t.Any = importlib.import_module(f"migrate_fsa_{request.param}")
    app = module.create_app({"SQLALCHEMY_DATABASE_URI": os.environ["TEST_DATABASE_URL"]})
    with app.app_context():
        module.db.create_all()
        for n in range(1, 8):
            module.db.session.add(module.BlogArticle(title=f"a{n}", published=n not in (2, 5)))
        module.db.session.commit()
    yield module, app
    with app.app_context():
        module.db.drop_all()
        module.db.engine.dispose()


def test_the_blog_behaves_the_same_before_and_after(blog: tuple[t.Any, Flask]) -> None:
    """The Flask-SQLAlchemy app and its migration answer alike: pages, 404s, table names."""
    module, app = blog
    client = app.test_client()
    assert client.get("/articles").json == {"titles": ["a1", "a3"], "pages": [1, 2, 3], "next": 2}
    assert client.get("/articles?page=3").json == {"titles": ["a7"], "pages": [1, 2, 3], "next": None}
    assert client.get("/titles?per_page=3&page=2").json == {"titles": ["a4", "a3", "a2"], "total": 7}
    assert client.get("/articles/4").json == {"title": "a4"}
    for url in ["/articles?page=4", "/articles?page=0", "/articles?page=x", "/titles?per_page=-1", "/articles/99"]:
        assert client.get(url).status_code == 404, url
    assert sorted(module.db.metadata.tables) == ["article_tag", "blog_article", "comment"]


def test_a_backref_works_before_and_after(blog: tuple[t.Any, Flask]) -> None:
    """db.backref becomes sqlalchemy.orm.backref: the reverse side is there, in its order, and, dynamic, it
    paginates with the recipe's query_class."""
    module, app = blog
    with app.app_context():
        article = module.db.session.scalars(select(module.BlogArticle).filter_by(title="a1")).one()
        module.db.session.add_all([module.Comment(article=article, text=text) for text in ("first", "second")])
        module.db.session.commit()
        assert [comment.text for comment in article.comments] == ["first", "second"]
        assert [comment.text for comment in article.comments.paginate(page=2, per_page=1)] == ["second"]


def test_query_recipe_works_on_model_query_and_session_query(blog: tuple[t.Any, Flask]) -> None:
    """recipes.Query's methods work on Model.query and on db.session.query(...), as Flask-SQLAlchemy's."""
    module, app = blog
    article = module.BlogArticle
    with app.test_request_context("/?page=2&per_page=4"):
        assert isinstance(article.query, module.ArticleQuery)  # query_class before, query_property after
        page = module.db.session.query(article).order_by(article.id).paginate()
        assert ([a.title for a in page], page.total, page.pages, page.prev_num) == (["a5", "a6", "a7"], 7, 2, 1)
        assert [a.title for a in page.prev().items] == ["a1", "a2", "a3", "a4"]
        assert module.db.session.query(article).paginate(count=False).total is None
        assert article.query.filter_by(title="a3").one_or_404().title == "a3"
        assert module.db.session.query(article).order_by(article.id).first_or_404().title == "a1"
        with pytest.raises(NotFound, match="no such article"):
            article.query.filter_by(title="zz").first_or_404(description="no such article")
        with pytest.raises(NotFound):
            article.query.one_or_404()
    if module is migrate_fsa_after:  # Flask-SQLAlchemy's Query.get_or_404 warns: it calls Query.get
        with app.app_context():
            assert article.query.get_or_404(3).title == "a3"
            with pytest.raises(NotFound):
                module.db.session.query(article).get_or_404(99)


@pytest.fixture(params=["before", "after"])
def notes(request: pytest.FixtureRequest, tmp_path: Path) -> t.Iterator[tuple[t.Any, Flask]]:
    """The hand-wired notes app (before) and its ScopedDB migration (after), on an SQLite file."""
    module: t.Any = importlib.import_module(f"migrate_handwired_{request.param}")
    app = module.create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'notes.db'}"})
    yield module, app
    with app.app_context():
        module.Session.get_bind().dispose()


def test_the_hand_wired_app_behaves_the_same_after_migrating(notes: tuple[t.Any, Flask]) -> None:
    """The notes app answers alike before and after; only the Session's scope changed."""
    module, app = notes
    client = app.test_client()
    assert client.post("/notes/milk").json == {"id": 1}
    assert client.get("/notes").json == ["milk"]
    with app.app_context():
        outer = module.Session()
        with app.app_context():
            inner = module.Session()
    assert (inner is outer) == (module is migrate_handwired_before)  # per thread, or per app context


def test_second_database_recipe_sends_each_base_to_its_engine(tmp_path: Path) -> None:
    """One Session writes User to SQLALCHEMY_DATABASE_URI and AuditEntry to AUDIT_DATABASE_URI."""
    app = Flask("two_databases")
    app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{tmp_path / 'main.db'}"
    app.config["AUDIT_DATABASE_URI"] = f"sqlite:///{tmp_path / 'audit.db'}"
    second_database.db.init_app(app)
    second_database.init_audit(app)
    with app.app_context():
        second_database.db.create_all()
        second_database.AuditBase.metadata.create_all(second_database.audit_engine())
        second_database.db.session.add_all([second_database.User(name="ann"), second_database.AuditEntry(message="hi")])
        second_database.db.session.commit()
        assert second_database.AuditEntry.query.one().message == "hi"
        assert sa_inspect(second_database.db.engine).get_table_names() == ["user_account"]
        assert sa_inspect(second_database.audit_engine()).get_table_names() == ["audit_entry"]
        engines = [second_database.db.engine, second_database.audit_engine()]
    # Disposed after the context's teardown gave the Session's connections back to the pools.
    for engine in engines:
        engine.dispose()


# -- The package example: examples/shop ------------------------------------------------------------

from flask.cli import with_appcontext

SHOP = HERE / "examples" / "shop"

# Rewrites the shop's conftest.py from ours: the module's imports come from the vendored copy, and the example
# part becomes the shop's two imports.
SHOP_CONFTEST_COMMAND = (
    r"sed -e 's/^from flask_scoped_db import/from shop.flask_scoped_db import/'"
    r" -e '/^# -- The example app\./,/^# -- End of the example part\./c\# isort: split\nfrom shop import"
    r" create_app\nfrom shop.extensions import db' conftest.py > examples/shop/tests/conftest.py"
)


def test_the_moving_examples_conftest_is_ours_with_its_example_part_and_factory_call_replaced() -> None:
    """examples/moving/conftest.py is conftest.py with the example part replaced by the blog's imports, and the
    app fixture's factory call by a config class made in the fixture, as the README's steps 1 and 2 say."""
    ours = (HERE / "conftest.py").read_text()
    start, end = ours.index("# -- The example app."), ours.index("\n", ours.index("# -- End of the example part.")) + 1
    imports = "# isort: split\nfrom blog import TestConfig\nfrom blog import create_app\nfrom blog import db\n"
    call = '    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": os.environ["TEST_DATABASE_URL"]})\n'
    testing = (
        "\n    class Testing(TestConfig):  # here: TEST_DATABASE_URL names the run's database from pytest_configure on\n"
        '        SQLALCHEMY_DATABASE_URI = os.environ["TEST_DATABASE_URL"]\n\n    app = create_app(Testing)\n'
    )
    assert call in ours
    assert (HERE / "examples" / "moving" / "conftest.py").read_text() == (ours[:start] + imports + ours[end:]).replace(
        call, testing
    )


def test_the_shop_conftest_is_ours_with_only_the_example_part_replaced() -> None:
    """examples/shop/tests/conftest.py is conftest.py with the example part replaced by import lines, and the
    module imported from the shop's vendored copy."""
    ours = (HERE / "conftest.py").read_text().replace("from flask_scoped_db import", "from shop.flask_scoped_db import")
    copy = (SHOP / "tests" / "conftest.py").read_text()
    before = ours[: ours.index("# -- The example app.")]
    after = ours[ours.index("\n", ours.index("# -- End of the example part.")) + 1 :]
    replaced = copy[len(before) : len(copy) - len(after)]
    assert (
        copy.startswith(before)
        and copy.endswith(after)
        and re.fullmatch(r"# isort: split\n(from [\w.]+ import \w+\n)+", replaced)
    ), f"examples/shop/tests/conftest.py is out of date; from the repository's root, run:\n{SHOP_CONFTEST_COMMAND}"


def test_the_shop_vendors_our_module_unchanged() -> None:
    """examples/shop/shop/flask_scoped_db.py is a byte-for-byte copy of flask_scoped_db.py."""
    copy = SHOP / "shop" / "flask_scoped_db.py"
    assert copy.read_bytes() == (HERE / "flask_scoped_db.py").read_bytes(), (
        f"{copy.relative_to(HERE)} is out of date; from the repository's root, run:\n"
        "cp flask_scoped_db.py examples/shop/shop/flask_scoped_db.py"
    )


@pytest.mark.whole_runs
def test_the_shop_suite_passes_on_its_own() -> None:
    """The shop's tests pass when run from examples/shop, as its own project runs them, on this backend."""
    xdist = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID")
    environ = {key: value for key, value in os.environ.items() if key not in xdist}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        check=False,
        cwd=SHOP,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def cli_command(callback: t.Callable[[], None]) -> click.Command:
    """``callback`` as a CLI command that needs an app context, as ``@app.cli.command()`` makes it."""
    wrap: t.Callable[[t.Callable[[], None]], t.Callable[[], None]] = with_appcontext  # untyped in Flask 2.3
    return click.command()(wrap(callback))


def test_a_cli_command_runs_on_a_session_of_its_own(app: Flask, db_session: scoped_session[Session]) -> None:
    """app.test_cli_runner() runs a command in an app context of its own, as ``flask <command>`` does, so not on
    the test's Session."""
    sessions: list[Session] = []
    result = app.test_cli_runner().invoke(cli_command(lambda: sessions.append(db.session())))
    assert result.exit_code == 0, result.output
    assert sessions and sessions[0] is not db_session()


def test_the_test_sees_what_a_cli_command_committed(app: Flask, db_session: scoped_session[Session]) -> None:
    """A command's Session joins the test's transaction: what it commits, the test sees."""

    def add_and_commit() -> None:
        db.session.add(Item(name="from the command"))
        db.session.commit()

    assert app.test_cli_runner().invoke(cli_command(add_and_commit)).exit_code == 0
    assert db_session.scalars(select(Item.name)).all() == ["from the command"]


def test_what_a_cli_command_did_not_commit_is_gone(app: Flask, db_session: scoped_session[Session]) -> None:
    """A command that forgets to commit writes nothing, as under ``flask <command>``: its Session is removed at
    the end of its own app context."""
    assert app.test_cli_runner().invoke(cli_command(lambda: db.session.add(Item(name="forgotten")))).exit_code == 0
    assert db_session.scalars(select(Item.name)).all() == []


def test_a_request_does_not_see_what_the_test_only_added(
    client: FlaskClient, db_session: scoped_session[Session]
) -> None:
    """An object added to the test's Session but not flushed (factory-boy's default persistence) is not sent:
    a request, on a Session of its own, does not see it."""
    db_session.add(Item(name="pending"))
    assert client.get("/items").json == []


# -- ScopedDB's lifecycle: skipped teardowns, forks, init_app, configuration -----------------------

SMALL_POOL = {} if IS_SQLITE_MEMORY else {"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2}


@pytest.fixture
def no_cyclic_gc() -> t.Iterator[None]:
    """Function scope: the cyclic garbage collector is off for the test, back on (as it was) after."""
    was_enabled = gc.isenabled()
    gc.disable()
    yield
    if was_enabled:
        gc.enable()


def raised_messages(error: BaseException) -> list[str]:
    """The messages of an error, or of each error in a group, however nested (Flask 3.2 groups teardown
    errors, in groups of groups)."""
    inner = getattr(error, "exceptions", None)
    return [message for each in inner for message in raised_messages(each)] if inner else [str(error)]


def test_skipped_teardowns_give_connections_back_without_the_cyclic_gc(
    make_app: t.Callable[..., Flask], no_cyclic_gc: None
) -> None:
    """50 contexts whose teardown another extension's error skips, on a pool of one: no pool timeout,
    nothing checked out at the end, with the cyclic garbage collector off."""
    db = ScopedDB()
    app = make_app(db, SQLALCHEMY_ENGINE_OPTIONS=SMALL_POOL)

    @app.teardown_appcontext
    def failing_teardown(exc: BaseException | None) -> None:
        if app.config.get("FAIL_TEARDOWN"):
            raise RuntimeError("another extension's teardown failed")

    with app.app_context():
        checked_out = CheckedOut(db.engine)
    app.config["FAIL_TEARDOWN"] = True
    timeouts = 0
    for _ in range(50):
        try:
            with app.app_context():
                db.session.execute(select(1))
        except TimeoutError:  # pragma: no cover (the failure this test looks for)
            timeouts += 1
        except Exception as error:  # noqa: BLE001 (Flask 3.2 raises teardown errors as a group)
            assert any("another extension" in message for message in raised_messages(error))
    app.config["FAIL_TEARDOWN"] = False
    assert timeouts == 0
    assert checked_out.count == 0


def test_a_session_made_after_our_teardown_is_closed_when_its_context_ends(tmp_path: Path, no_cyclic_gc: None) -> None:
    """A teardown registered before init_app runs after ours; the Session it makes is closed too:
    50 such contexts on a pool of one, no timeout, nothing checked out at the end."""
    app = Flask(__name__, instance_path=str(tmp_path))
    app.config.update(SQLALCHEMY_DATABASE_URI=os.environ["TEST_DATABASE_URL"], SQLALCHEMY_ENGINE_OPTIONS=SMALL_POOL)
    db = ScopedDB()

    @app.teardown_appcontext
    def audit(exc: BaseException | None) -> None:
        db.session.execute(select(1))

    db.init_app(app)
    with app.app_context():
        checked_out = CheckedOut(db.engine)
    try:
        for _ in range(50):
            with app.app_context():
                db.session.execute(select(1))
        assert checked_out.count == 0
    finally:
        with app.app_context():
            engine = db.engine
        engine.dispose()  # after the context, whose audit teardown used a connection


FORK_SCRIPT = '''
import os, sys
from flask import Flask
from sqlalchemy import func, make_url, select, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from flask_scoped_db import ScopedDB

parent_state, ending, children, instance = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
url = make_url(os.environ["TEST_DATABASE_URL"])
memory = url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")
server_id = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}.get(url.get_backend_name())


class Base(DeclarativeBase):
    pass


class Row(Base):
    __tablename__ = f"fork_row_{os.getpid()}"
    id: Mapped[int] = mapped_column(primary_key=True)


db = ScopedDB(model_class=Base)
app = Flask(__name__, instance_path=instance)
app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["TEST_DATABASE_URL"]
db.init_app(app)


def connection_id():
    """The server's id of db.session's connection (on SQLite, its DBAPI connection's)."""
    if server_id:
        return db.session.scalar(text(server_id))
    return id(db.session.connection().connection.dbapi_connection)


def child(parent_id, report):
    # First use in the inherited context, then in a context of the child's own.
    first = connection_id()
    with app.app_context():
        own = connection_id()
        seen = None if memory else db.session.scalar(select(func.count()).select_from(Row))
    os.write(report, f"{first} {own} {seen}\\\\n".encode())


with app.app_context():
    db.create_all()
parent = os.getpid()
try:
    with app.app_context():
        db.session.add(Row(id=1))
        db.session.commit()
        parent_id = connection_id()
        if parent_state == "mid-transaction":
            db.session.add(Row(id=2))
            db.session.flush()
        else:
            db.session.remove()  # its connection back in the pool
        read_end, write_end = os.pipe()
        pids = []
        for _ in range(children):
            pid = os.fork()
            if pid == 0:
                try:
                    child(parent_id, write_end)
                except BaseException:
                    import traceback
                    traceback.print_exc()
                    os._exit(1)
                if ending == "os._exit":
                    os._exit(0)
                sys.exit(0)  # unwinds the inherited context, then a normal interpreter exit
            pids.append(pid)
        os.close(write_end)
        statuses = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
        with os.fdopen(read_end) as pipe:
            reports = pipe.read().split("\\\\n")[:-1]
        assert statuses == [0] * children, statuses
        assert len(reports) == children, reports
        for report in reports:
            first, own, seen = report.split()
            assert first != str(parent_id) and own != str(parent_id), (report, parent_id)
            assert seen in ("None", "1"), report
        assert connection_id() == parent_id
        assert db.session.scalar(select(func.count()).select_from(Row)) == (2 if parent_state == "mid-transaction" else 1)
        db.session.commit()
    with app.app_context():
        assert db.session.scalars(select(Row.id).order_by(Row.id)).all() == ([1, 2] if parent_state == "mid-transaction" else [1])
        print("parent ok")
finally:
    if os.getpid() == parent:  # a child exiting normally unwinds through here too
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
'''


@pytest.mark.parametrize("ending", ["normal exit", "os._exit"])
@pytest.mark.parametrize("parent_state", ["mid-transaction", "pooled only"])
def test_forked_children_never_touch_the_parents_connections(tmp_path: Path, parent_state: str, ending: str) -> None:
    """Three children forked at once, while the parent holds a Session mid-transaction or only pooled
    connections, query on connections of their own and exit; the parent's transaction, rows and
    connection are untouched."""
    result = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, parent_state, ending, "3", str(tmp_path / "instance")],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "parent ok"
    assert result.stderr == ""


def test_init_app_refused_by_flask_leaves_nothing_behind() -> None:
    """init_app after the app's first request fails in Flask's own check and leaves neither state
    nor teardown, so a retry meets the same check, not "already initialised"; the corrected call
    (before an app's first request) works."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    app.get("/")(lambda: "ok")
    assert app.test_client().get("/").status_code == 200
    teardowns = list(app.teardown_appcontext_funcs)
    db = ScopedDB()
    for _ in range(2):
        with pytest.raises(AssertionError, match="'teardown_appcontext' can no longer be called"):
            db.init_app(app)
        assert "scoped_db" not in app.extensions
        assert app.teardown_appcontext_funcs == teardowns
    corrected = Flask(__name__)
    corrected.config["SQLALCHEMY_DATABASE_URI"] = "sqlite://"
    db.init_app(corrected)
    with corrected.app_context():
        assert db.session.scalar(select(1)) == 1
        engine = db.engine
    engine.dispose()


def test_a_none_database_uri_names_the_key() -> None:
    """SQLALCHEMY_DATABASE_URI = None (an unset environment variable) names the key."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = None
    with pytest.raises(RuntimeError, match=r"Set app\.config\['SQLALCHEMY_DATABASE_URI'\].*None"):
        ScopedDB(app)


def test_an_unparseable_url_is_named_with_its_password_masked() -> None:
    """A malformed URL with a password is shown in the error with the password masked."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "postgresql://user:s3cret@host:port/db"
    with pytest.raises(RuntimeError, match="SQLALCHEMY_DATABASE_URI") as raised:
        ScopedDB(app)
    assert "postgresql://user:***@host:port/db" in str(raised.value)
    assert "s3cret" not in str(raised.value)


def test_engine_options_that_are_not_a_dict_name_the_key() -> None:
    """SQLALCHEMY_ENGINE_OPTIONS = None names the key and says it must be a dict."""
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI="sqlite://", SQLALCHEMY_ENGINE_OPTIONS=None)
    with pytest.raises(RuntimeError, match=r"SQLALCHEMY_ENGINE_OPTIONS'\] must be a dict.*not NoneType"):
        ScopedDB(app)


def test_sqlalchemy_binds_is_refused_pointing_to_the_second_database_recipe() -> None:
    """SQLALCHEMY_BINDS is refused, pointing to the README recipe, which exists under Recipes."""
    app = Flask(__name__)
    app.config.update(SQLALCHEMY_DATABASE_URI="sqlite://", SQLALCHEMY_BINDS={"audit": "sqlite://"})
    with pytest.raises(RuntimeError, match=r"SQLALCHEMY_BINDS.*Recipes, 'A second database'"):
        ScopedDB(app)
    readme = (Path(__file__).parent / "README.md").read_text()
    assert "\n#### A second database\n" in readme.split("\n### Recipes\n")[1]


@pytest.mark.parametrize(
    ("key", "value", "instead"),
    [
        ("SQLALCHEMY_POOL_SIZE", 20, "SQLALCHEMY_ENGINE_OPTIONS['pool_size']"),
        ("SQLALCHEMY_MAX_OVERFLOW", 0, "SQLALCHEMY_ENGINE_OPTIONS['max_overflow']"),
        ("SQLALCHEMY_COMMIT_ON_TEARDOWN", True, "db.session.commit()"),
    ],
)
def test_a_flask_sqlalchemy_2_setting_is_refused_naming_what_to_use(key: str, value: object, instead: str) -> None:
    """Flask-SQLAlchemy 2's pool and commit-on-teardown settings, which would be lost without a word, are refused,
    naming the setting to use and the README's section, which exists."""
    app = Flask(__name__)
    app.config.update({"SQLALCHEMY_DATABASE_URI": "sqlite://", key: value})
    with pytest.raises(
        RuntimeError, match=re.escape(f"{key}'] is a setting of Flask-SQLAlchemy 2") + ".*" + re.escape(instead)
    ):
        ScopedDB(app)
    assert "\n### From Flask-SQLAlchemy 2.x\n" in (Path(__file__).parent / "README.md").read_text()


def test_a_flask_sqlalchemy_2_setting_left_at_its_default_is_ignored() -> None:
    """None and False are Flask-SQLAlchemy 2's own defaults, which lose nothing."""
    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI="sqlite://", SQLALCHEMY_POOL_SIZE=None, SQLALCHEMY_COMMIT_ON_TEARDOWN=False
    )
    ScopedDB(app)


def test_a_naming_convention_on_the_base_is_db_metadatas() -> None:
    """Flask-SQLAlchemy's metadata=MetaData(naming_convention=...) moves into the base class's body."""

    class ConventionBase(DeclarativeBase):
        metadata = MetaData(naming_convention={"uq": "uq_%(table_name)s_%(column_0_name)s"})

    assert (
        ScopedDB(model_class=ConventionBase).metadata.naming_convention["uq"] == "uq_%(table_name)s_%(column_0_name)s"
    )


def test_sqlalchemy_echo_sets_echo_and_echo_pool(make_app: t.Callable[..., Flask]) -> None:
    """SQLALCHEMY_ECHO = True echoes the engine and its pool, as in Flask-SQLAlchemy."""
    db = ScopedDB()
    app = make_app(db, SQLALCHEMY_ECHO=True)
    with app.app_context():
        assert db.engine.echo is True
        assert db.engine.pool.echo is True


def test_explicit_echo_options_win_over_sqlalchemy_echo(make_app: t.Callable[..., Flask]) -> None:
    """An echo in SQLALCHEMY_ENGINE_OPTIONS wins over SQLALCHEMY_ECHO; echo_pool still follows it."""
    db = ScopedDB()
    app = make_app(db, SQLALCHEMY_ECHO=True, SQLALCHEMY_ENGINE_OPTIONS={"echo": False})
    with app.app_context():
        assert db.engine.echo is False
        assert db.engine.pool.echo is True


def test_a_second_scopeddb_on_one_model_class_is_refused() -> None:
    """ScopedDB(model_class=Base) twice on one Base raises, and the first one keeps Base.query."""

    class Base(DeclarativeBase):
        pass

    first = ScopedDB(model_class=Base)
    query = Base.__dict__["query"]
    with pytest.raises(RuntimeError, match="Base is already the model_class of another ScopedDB"):
        ScopedDB(model_class=Base)
    assert Base.__dict__["query"] is query
    assert first.Model is Base


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///:memory:",
        "sqlite:///file::memory:?uri=true",
        "sqlite+pysqlite:///file::memory:?uri=true",
        "sqlite:///file:scoped_db_memory?mode=memory&uri=true",
    ],
)
def test_every_in_memory_sqlite_url_is_one_database_for_every_context_and_thread(
    make_app: t.Callable[..., Flask], url: str
) -> None:
    """In-memory SQLite URI forms get StaticPool: a table made in one context is seen in a nested
    context and in another thread."""
    db = ScopedDB()
    app = make_app(db, SQLALCHEMY_DATABASE_URI=url)
    seen: list[int] = []

    def read() -> None:
        with app.app_context():
            seen.append(db.session.scalar(text("SELECT count(*) FROM shared")) or 0)

    with app.app_context():
        assert isinstance(db.engine.pool, StaticPool)
        db.session.execute(text("CREATE TABLE shared (x INTEGER)"))
        db.session.commit()
        read()
        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
    assert seen == [0, 0]


# -- The test part's packaging: imports anywhere, versions named ---------------------------------


def test_a_test_connection_without_create_tables_leaves_the_schema_alone(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """db.test_connection(app, create_tables=False) neither creates the models' tables nor drops them."""
    app = make_app(notes_db)
    with notes_db.test_connection(app, create_tables=False) as test_connection:
        assert "note" not in inspect(test_connection.connection).get_table_names()
    with app.app_context():
        assert "note" not in inspect(notes_db.engine).get_table_names()


def test_a_block_that_raises_and_leaves_a_context_gets_a_test_failure_caused_by_its_error(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """Used as a plain `with` block, transaction() still names what the block left behind when the block
    raised: the TestFailure's cause is the block's own exception."""
    app = make_app(notes_db)
    with (
        notes_db.test_connection(app) as test_connection,
        pytest.raises(TestFailure, match=r"left 1 app context") as failure,
        test_connection.transaction(),
    ):
        app.app_context().push()
        raise ValueError("the test itself failed")
    assert isinstance(failure.value.__cause__, ValueError)


def test_a_block_that_raises_and_leaves_nothing_behind_raises_its_own_error(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """transaction() lets the block's own exception through when the block left nothing behind."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        with pytest.raises(ValueError, match="the test itself failed"), test_connection.transaction() as session:
            session.add(Note(text="rolled back"))
            session.commit()
            raise ValueError("the test itself failed")
        with test_connection.transaction() as session:
            assert session.scalars(select(Note)).all() == []


@pytest.mark.skipif(BACKEND != "mysql", reason="MariaDB's USE")
def test_closing_after_a_test_that_changed_database_drops_only_the_test_databases_tables(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """A test that ran USE leaves the run's connection on another database: closing the TestConnection drops the
    models' tables in the test database all the same, never that other database's."""
    named = make_url(os.environ["TEST_DATABASE_URL"])
    elsewhere = f"{named.database}_elsewhere"
    server = create_engine(named, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with server.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {elsewhere}")
        connection.exec_driver_sql(f"CREATE TABLE {elsewhere}.note (x INTEGER)")
    try:
        app = make_app(notes_db)
        with notes_db.test_connection(app) as test_connection, test_connection.transaction() as session:
            session.execute(text(f"USE {elsewhere}"))
        with server.connect() as connection:
            assert connection.exec_driver_sql(f"SHOW TABLES FROM {elsewhere}").scalars().all() == ["note"]
            assert "note" not in connection.exec_driver_sql(f"SHOW TABLES FROM {named.database}").scalars().all()
    finally:
        with server.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE {elsewhere}")
        server.dispose()


def test_a_server_with_every_slot_taken_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """When no slot can be taken, open() says which names are held instead of looping."""
    database = TestDatabase(f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setattr(database, "_take", lambda name: False)
    with pytest.raises(TestSetupError, match="hold app_run0 to _run99"):
        database.open()


def test_the_module_imports_where_fcntl_is_missing() -> None:
    """flask_scoped_db imports without fcntl (as on Windows): only an SQLite test database's lock needs it."""
    code = "import sys; sys.modules['fcntl'] = None; import flask_scoped_db; print(flask_scoped_db.__version__)"
    run = subprocess.run([sys.executable, "-c", code], cwd=HERE, capture_output=True, text=True, check=False)
    assert run.returncode == 0 and run.stdout.strip() == flask_scoped_db.__version__, run.stderr


def test_a_conftest_written_for_another_release_is_named_with_both_versions() -> None:
    """check_version() refuses test code written for another minor release, naming both and where to look."""
    with pytest.raises(
        TestSetupError,
        match=rf"written for flask_scoped_db 0\.1\.0, and flask_scoped_db\.py is {re.escape(flask_scoped_db.__version__)}",
    ):
        check_version("0.1.0")


@pytest.mark.whole_runs
def test_a_conftest_written_for_another_release_stops_the_run_once(tmp_path: Path) -> None:
    """A conftest.py whose WRITTEN_FOR names another minor release stops a -n 2 run before any test, once,
    with exit code 4 and both versions named."""
    conftest = CONFTEST.replace(f'WRITTEN_FOR = "{flask_scoped_db.__version__}"', 'WRITTEN_FOR = "0.1.0"')
    assert conftest != CONFTEST
    run = inner_pytest(tmp_path, conftest, SLOW_TESTS, "-n", "2")
    report = run.communicate(timeout=300)[0]
    assert run.returncode == 4, report
    assert report.count("was written for flask_scoped_db 0.1.0") == 1, report


def test_a_conftest_written_for_this_release_passes() -> None:
    """check_version() accepts any patch release of the same minor version."""
    check_version(flask_scoped_db.__version__.rsplit(".", 1)[0] + ".99")


# -- Shared data and real-commit tests ------------------------------------------------------------


@contextlib.contextmanager
def run_database() -> t.Iterator[dict[str, str]]:
    """The environment of a whole run on a database of its own: on a server, a scratch database (dropped
    afterwards, with the run's database made beside it); on SQLite, the run's own beside ours."""
    if BACKEND == "sqlite":
        yield {}
        return
    scratch = Scratch()
    try:
        yield {"TEST_DATABASE_URL": scratch.database().render_as_string(hide_password=False)}
    finally:
        scratch.close()


def outcomes(report: str) -> dict[str, str]:
    """The -rA summary of a run, classes' tests too: "test_module.py::Class::test_x" -> "PASSED", or
    "FAILED: reason", "ERROR: reason" (at set-up or teardown)."""
    found = re.findall(r"^(PASSED|FAILED|ERROR|XFAIL) (test_\w+\.py::[\w:]+)(?: - (.*))?$", report, re.MULTILINE)
    return {name: f"{outcome}: {reason}" if reason else outcome for outcome, name, reason in found}


def tables_left(url: str) -> list[str]:
    """The tables in the database ``url`` names."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()


NESTED_CONFTEST = (
    CONFTEST
    + '''

@pytest.fixture(scope="session")
def session_rows(shared_session: scoped_session[Session]) -> None:
    """Session scope: shared data for every test of the run that names it."""
    shared_session.add(Item(name="session"))
    shared_session.commit()
'''
)

NESTED_TESTS = """
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import Item

Path("database.txt").write_text(os.environ["TEST_DATABASE_URL"])


def names(db_session):
    return db_session.scalars(select(Item.name).order_by(Item.name)).all()


@pytest.fixture(scope="module")
def module_rows(shared_session, session_rows):
    shared_session.add(Item(name="module"))
    shared_session.commit()


@pytest.fixture(scope="class")
def class_rows(shared_session, module_rows):
    shared_session.add(Item(name="class"))
    shared_session.commit()


class TestInAClass:
    def test_sees_every_level_above(self, db_session, class_rows):
        assert names(db_session) == ["class", "module", "session"]
        db_session.add(Item(name="test"))
        db_session.commit()
        assert names(db_session) == ["class", "module", "session", "test"]

    def test_sees_every_level_above_again(self, db_session, class_rows):
        assert names(db_session) == ["class", "module", "session"]


def test_after_the_class_sees_no_class_rows(db_session, module_rows):
    assert names(db_session) == ["module", "session"]
"""

NESTED_LATER_TESTS = """
from sqlalchemy import select

from conftest import Item


def test_after_the_module_sees_no_module_rows(db_session, session_rows):
    assert db_session.scalars(select(Item.name)).all() == ["session"]


def test_without_naming_them_sees_the_session_rows_still_open(db_session):
    assert db_session.scalars(select(Item.name)).all() == ["session"]
"""


@pytest.mark.whole_runs
def test_shared_data_nests_and_each_scopes_rows_are_gone_after_it(tmp_path: Path) -> None:
    """Session-, module- and class-scoped shared data nest: a test in the class sees all three levels, a test
    after the class the two above it, a test of a later module the session's only; the run's database is left
    without tables."""
    directory = tmp_path / "run"
    directory.mkdir()
    (directory / "test_later.py").write_text(NESTED_LATER_TESTS)
    with run_database() as environment:
        report = run_pytest(directory, NESTED_CONFTEST, NESTED_TESTS, "-p", "no:xdist", **environment)
        if not IS_SQLITE_MEMORY:
            assert tables_left((directory / "database.txt").read_text()) == []
    assert "5 passed" in report and "FAILED" not in report and "ERROR" not in report, report


WRITING_BY_VIEW_AND_ENGINE_TESTS = """
import pytest
from sqlalchemy import insert, select

from conftest import Item, db


@pytest.fixture(scope="module")
def rows(shared_session, app):
    assert app.test_client().post("/items/by-view").status_code == 201
    with db.engine.begin() as connection:
        connection.execute(insert(Item).values(name="by-engine"))
    shared_session.add(Item(name="by-session"))
    shared_session.commit()


def test_sees_what_a_view_the_engine_and_the_session_wrote(db_session, rows):
    assert db_session.scalars(select(Item.name).order_by(Item.name)).all() == ["by-engine", "by-session", "by-view"]
"""


@pytest.mark.whole_runs
def test_a_shared_fixture_writes_through_a_view_and_the_engine_too(tmp_path: Path) -> None:
    """A shared fixture's rows written by a view it calls and through db.engine are shared like its Session's,
    and gone after its module."""
    directory = tmp_path / "run"
    directory.mkdir()
    (directory / "test_later.py").write_text(CLEAN_LATER_TESTS)
    with run_database() as environment:
        report = run_pytest(directory, CONFTEST, WRITING_BY_VIEW_AND_ENGINE_TESTS, **environment)
    assert "2 passed" in report and "FAILED" not in report and "ERROR" not in report, report


PACKAGE_CONFTEST = """
import pytest

from conftest import Item


@pytest.fixture(scope="package", autouse=True)
def package_rows(shared_session):
    shared_session.add(Item(name="package"))
    shared_session.commit()
"""

IN_THE_PACKAGE_TESTS = """
from sqlalchemy import select

from conftest import Item


def test_sees_the_package_rows(db_session):
    assert db_session.scalars(select(Item.name)).all() == ["package"]
"""


@pytest.mark.whole_runs
def test_package_scoped_shared_data_is_seen_by_the_packages_tests_only(tmp_path: Path) -> None:
    """A package-scoped fixture that takes shared_session: both test modules of its package see its rows, a
    test module after the package does not."""
    directory = tmp_path / "run"
    (directory / "package").mkdir(parents=True)
    (directory / "package" / "__init__.py").write_text("")
    (directory / "package" / "conftest.py").write_text(PACKAGE_CONFTEST)
    for name in ("test_one.py", "test_two.py"):
        (directory / "package" / name).write_text(IN_THE_PACKAGE_TESTS)
    after = "from sqlalchemy import select\n\nfrom conftest import Item\n\n\ndef test_after_the_package(db_session):\n"
    with run_database() as environment:
        report = run_pytest(
            directory, CONFTEST, after + "    assert db_session.scalars(select(Item.name)).all() == []\n", **environment
        )
    assert "3 passed" in report and "FAILED" not in report and "ERROR" not in report, report


SHARED_TESTS = """
import pytest
from sqlalchemy import delete, inspect, select, update

from conftest import Item

WRITTEN = []


@pytest.fixture(scope="module")
def shared(shared_session):
    items = [Item(name="one"), Item(name="two")]
    shared_session.add_all(items)
    shared_session.commit()
    WRITTEN[:] = [(item.id, item.name) for item in items]
    return items


def check(db_session, shared):
    # The shared objects are in the test's session, expired, and read the rows afresh, as written.
    assert all(item in db_session and "name" in inspect(item).unloaded for item in shared)
    assert db_session.execute(select(Item.id, Item.name).order_by(Item.id)).all() == WRITTEN
    assert [(item.id, item.name) for item in shared] == WRITTEN
    assert [db_session.get(Item, id) for id, _ in WRITTEN] == shared


def test_commits_changes_to_the_shared_objects(db_session, shared):
    check(db_session, shared)
    shared[0].name = "changed"
    db_session.add(Item(name="three"))
    db_session.commit()
    assert db_session.scalars(select(Item.name).order_by(Item.id)).all() == ["changed", "two", "three"]


def test_deletes_a_shared_object_and_commits(db_session, shared):
    check(db_session, shared)
    db_session.delete(shared[1])
    db_session.commit()
    assert db_session.scalars(select(Item.name)).all() == ["one"]


def test_adds_the_shared_objects_to_its_session(db, db_session, shared):
    check(db_session, shared)
    db.session.add_all(shared)
    shared[1].name = "added"
    db.session.commit()
    assert db_session.scalars(select(Item.name).order_by(Item.id)).all() == ["one", "added"]


@pytest.mark.xfail(raises=RuntimeError, strict=True)
def test_fails_halfway(db_session, shared):
    check(db_session, shared)
    shared[0].name = "halfway"
    db_session.add(Item(name="three"))
    db_session.commit()
    shared[1].name = "flushed"
    db_session.flush()
    raise RuntimeError("failed halfway")


def test_commits_through_requests(client, db_session, shared):
    check(db_session, shared)
    assert client.post("/items/three").status_code == 201
    assert client.get("/items").json == ["one", "three", "two"]


def test_writes_through_engine_connections(db, db_session, shared):
    check(db_session, shared)
    with db.engine.begin() as connection:
        connection.execute(update(Item).where(Item.id == WRITTEN[0][0]).values(name="engine"))
        connection.execute(delete(Item).where(Item.id == WRITTEN[1][0]))
    with db.engine.connect() as connection:
        connection.execute(update(Item).values(name="uncommitted"))
    assert db_session.scalars(select(Item.name)).all() == ["engine"]
"""


@pytest.mark.whole_runs
@pytest.mark.parametrize("order", ["in file order", "shuffled under -n 2"])
def test_each_test_sees_the_shared_data_as_written_whatever_the_test_before_did(tmp_path: Path, order: str) -> None:
    """Module-scoped shared data: each test finds the rows and the fixture's objects (expired, in its session)
    as written, after a test that committed changes to them, deleted one, failed halfway, committed through
    requests or through db.engine connections; in file order, and shuffled by pytest-randomly under -n 2."""
    options = ["-p", "no:xdist"] if order == "in file order" else ["-p", "randomly", "-n", "2"]
    report = run_pytest(tmp_path, CONFTEST, SHARED_TESTS, *options)
    assert "5 passed, 1 xfailed" in report and "FAILED" not in report and "ERROR" not in report, report
    assert ("Using --randomly-seed" in report) == (order != "in file order"), report


SHARED_FAILURE_TESTS = """
import pytest
from sqlalchemy import func, select

from conftest import Item


def count(db_session):
    return db_session.scalar(select(func.count()).select_from(Item))


@pytest.fixture(scope="class")
def uncommitted_rows(shared_session):
    shared_session.add(Item(name="committed"))
    shared_session.commit()
    shared_session.add(Item(name="uncommitted"))


class TestUncommitted:
    def test_first(self, db_session, uncommitted_rows):
        pass

    def test_second(self, db_session, uncommitted_rows):
        assert db_session.scalars(select(Item.name)).all() == ["committed"]


def test_clean_after_uncommitted_rows(db_session):
    assert count(db_session) == 0


@pytest.fixture(scope="class")
def shared_rows(shared_session):
    shared_session.add(Item(name="shared"))
    shared_session.commit()


class TestLost:
    def test_ends_the_outer_transaction(self, db_session, shared_rows):
        db_session.add(Item(name="committed"))
        db_session.flush()
        db_session.connection().commit()

    def test_next_in_the_scope(self, db_session, shared_rows):
        pass

    def test_last_in_the_scope(self, db_session, shared_rows):
        pass


def test_clean_after_a_lost_scope(db_session):
    assert count(db_session) == 0


class TestRealCommitsInside:
    def test_commits_for_real(self, db_session, shared_rows, real_commits):
        pass


def test_clean_after_real_commits_inside(db_session):
    assert count(db_session) == 0
"""


@pytest.fixture(scope="session")
def shared_failure_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Session scope: the outcomes of SHARED_FAILURE_TESTS, run once with our conftest.py."""
    report = run_pytest(tmp_path_factory.mktemp("shared_failures") / "run", CONFTEST, SHARED_FAILURE_TESTS)
    return outcomes(report)


@pytest.mark.whole_runs
def test_shared_data_left_uncommitted_fails_every_test_of_its_scope(
    shared_failure_run: dict[str, str],
) -> None:
    """A class-scoped fixture that leaves a row uncommitted errors the first test of its class with a TestFailure
    that says so, and the next test of the class with the same reason; the test after the class finds no rows."""
    uncommitted = "The SharedData's block left 1 new, 0 changed and 0 deleted"
    assert shared_failure_run["test_inner.py::TestUncommitted::test_first"].startswith(
        f"ERROR: flask_scoped_db.TestFailure: {uncommitted}"
    )
    assert uncommitted in shared_failure_run["test_inner.py::TestUncommitted::test_second"]
    assert shared_failure_run["test_inner.py::test_clean_after_uncommitted_rows"] == "PASSED"


@pytest.mark.whole_runs
def test_a_test_that_ends_the_outer_transaction_in_shared_data_fails_the_rest_of_its_scope(
    shared_failure_run: dict[str, str],
) -> None:
    """A test that commits the outer transaction inside shared data fails, and each later test of the scope
    errors saying the shared rows are gone and why; the test after the scope starts clean."""
    ended = "ERROR: flask_scoped_db.TestFailure: The code under test ended the outer transaction"
    lost = "ERROR: flask_scoped_db.TestFailure: The rows that this test's scope shares (SharedData) are gone"
    assert shared_failure_run["test_inner.py::TestLost::test_ends_the_outer_transaction"].startswith(ended)
    for test in ("test_next_in_the_scope", "test_last_in_the_scope"):
        reason = shared_failure_run[f"test_inner.py::TestLost::{test}"]
        assert reason.startswith(lost) and "The code under test ended the outer transaction" in reason, reason
    assert shared_failure_run["test_inner.py::test_clean_after_a_lost_scope"] == "PASSED"


@pytest.mark.whole_runs
def test_a_real_commit_test_inside_shared_data_errors_naming_real_commit_tests(
    shared_failure_run: dict[str, str],
) -> None:
    """A real-commit test that names a class-scoped shared fixture errors at set-up with a TestSetupError that
    names real-commit tests; the next test starts clean."""
    refused = "ERROR: flask_scoped_db.TestSetupError: A real-commit test cannot run inside SharedData"
    assert shared_failure_run["test_inner.py::TestRealCommitsInside::test_commits_for_real"].startswith(refused)
    assert shared_failure_run["test_inner.py::test_clean_after_real_commits_inside"] == "PASSED"


def test_shared_data_closed_before_shared_data_begun_inside_it_fails_and_rolls_both_back(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """Closing a SharedData while one begun inside it is open raises TestFailure saying so; the rows of both
    are rolled back, and closing the inner one afterwards does nothing."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        outer = test_connection.shared_data()
        with outer as session:
            session.add(Note(text="outer"))
            session.commit()
        inner = test_connection.shared_data()
        with inner as session:
            session.add(Note(text="inner"))
            session.commit()
        with pytest.raises(TestFailure, match="SharedData was closed while SharedData begun inside it was still open"):
            outer.close()
        inner.close()
        with test_connection.transaction() as session:
            assert session.scalars(select(Note.text)).all() == []


def test_a_real_commit_test_inside_open_shared_data_is_refused_naming_real_commit_tests(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """transaction(real_commits=True) inside open SharedData raises TestSetupError naming real-commit tests,
    before anything is committed; the shared rows are still there for the next test."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        data = test_connection.shared_data()
        with data as session:
            session.add(Note(text="shared"))
            session.commit()
        with (
            pytest.raises(TestSetupError, match="A real-commit test cannot run inside SharedData"),
            test_connection.transaction(real_commits=True),
        ):
            pass  # pragma: no cover (refused before the block)
        with test_connection.transaction() as session:
            assert session.scalars(select(Note.text)).all() == ["shared"]
        data.close()
        with test_connection.transaction() as session:
            assert session.scalars(select(Note.text)).all() == []


@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's now()")
def test_now_in_a_test_inside_shared_data_is_when_the_shared_data_began_on_postgresql(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """Inside open SharedData, PostgreSQL's now() in a test is the time the shared data began (as the README
    says), and clock_timestamp() the time of the statement."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        data = test_connection.shared_data()
        with data as session:
            began = session.scalar(select(func.now()))
        time.sleep(0.05)
        with test_connection.transaction() as session:
            now, clock = session.execute(select(func.now(), func.clock_timestamp())).one()
            assert now == began
            assert clock > began
        data.close()


def test_a_real_commit_test_commits_for_real_and_the_next_test_starts_clean(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """In-process, on every backend (sqlite:// in memory too): a real-commit test's commit is seen by another
    connection (on a database that has another); the next real-commit test and the next pair test find no
    rows, and take id 1."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        with test_connection.transaction(real_commits=True) as session:
            session.add_all([Note(text="a"), Note(text="b")])
            session.commit()
            if not IS_SQLITE_MEMORY:
                other = create_engine(os.environ["TEST_DATABASE_URL"], poolclass=NullPool)
                try:
                    with other.connect() as connection:
                        assert connection.scalars(select(Note.text).order_by(Note.text)).all() == ["a", "b"]
                finally:
                    other.dispose()
        with test_connection.transaction(real_commits=True) as session:
            assert session.scalars(select(Note.text)).all() == []
            note = Note(text="c")
            session.add(note)
            session.commit()
            assert note.id == 1
        with test_connection.transaction() as session:
            assert session.scalars(select(Note.text)).all() == []
            note = Note(text="d")
            session.add(note)
            session.commit()
            assert note.id == 1


@pytest.mark.skipif(IS_SQLITE_MEMORY, reason="in memory, every checkout of the test shares the run's one connection")
def test_a_real_commit_test_that_leaves_a_connection_checked_out_fails_and_its_locks_go_with_it(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """A real-commit test that leaves a db.engine connection checked out, holding a lock on a row it changed,
    fails naming it; the connection is closed, so the tables are put back and the next test starts clean."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        with pytest.raises(TestFailure) as failure, test_connection.transaction(real_commits=True) as session:
            session.add(Note(text="committed"))
            session.commit()
            leaked = notes_db.engine.connect()
            leaked.execute(update(Note).values(text="locked"))
        with test_connection.transaction() as session:
            assert session.scalars(select(Note.text)).all() == []
        leaked.close()
    assert [problem[:53] for problem in failure.value.problems] == [
        "The code under test left 1 connection(s) of db.engine"
    ]


@pytest.mark.skipif(BACKEND != "sqlite" or IS_SQLITE_MEMORY, reason="an SQLite file's lock, with a short timeout")
def test_a_real_commit_test_whose_tables_cannot_be_put_back_fails_saying_so(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """When the tables cannot be put back after a real-commit test (a connection of the test's own engine keeps
    a write lock), the test fails saying so, rather than hanging or raising from the pair."""
    app = make_app(notes_db, SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 0.05}})
    other = create_engine(os.environ["TEST_DATABASE_URL"], poolclass=NullPool)
    with notes_db.test_connection(app) as test_connection:
        with pytest.raises(TestFailure) as failure, test_connection.transaction(real_commits=True) as session:
            session.add(Note(text="committed"))
            session.commit()
            locked = other.connect()
            locked.execute(insert(Note).values(text="locked"))
        locked.close()
    other.dispose()
    assert [problem[:60] for problem in failure.value.problems] == [
        "The tables could not be put back as they were before this re"
    ]


REAL_COMMIT_TESTS = """
import json
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select

from conftest import Item


def served_names(live_server):
    with urllib.request.urlopen(live_server.url("/items"), timeout=30) as response:
        return json.load(response)


def rows(db_session):
    return db_session.execute(select(Item.id, Item.name).order_by(Item.id)).all()


def new_id(db_session, name):
    item = Item(name=name)
    db_session.add(item)
    db_session.commit()
    return item.id


def test_a_pair_test_after_them_starts_clean(db_session):
    assert rows(db_session) == []
    assert new_id(db_session, "pair") == 1


def test_a_live_server_refuses_in_a_pair_test(live_server, db_session):
    with pytest.raises(urllib.error.HTTPError) as error:
        served_names(live_server)
    error.value.close()
    assert error.value.code == 500


def test_a_live_server_reads_what_a_real_commit_test_commits(live_server, db_session, real_commits):
    db_session.add(Item(name="committed"))
    db_session.commit()
    request = urllib.request.Request(live_server.url("/items/posted"), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
    assert served_names(live_server) == ["committed", "posted"]
    assert [name for _, name in rows(db_session)] == ["committed", "posted"]


def test_the_next_real_commit_test_starts_clean(live_server, db_session, real_commits):
    assert rows(db_session) == []
    assert served_names(live_server) == []
    assert new_id(db_session, "next") == 1
"""


@pytest.mark.whole_runs
@pytest.mark.skipif(IS_SQLITE_MEMORY, reason="a live server's process cannot read another's in-memory database")
def test_a_live_server_reads_a_real_commit_tests_rows_and_the_next_tests_start_clean(tmp_path: Path) -> None:
    """Under pytest-flask's live_server, a real-commit test (run first, wherever it is in the file) commits rows
    that the server's process reads and writes; the next real-commit test and the pair test after them find no
    rows and take id 1; in a pair test the server refuses the database."""
    with run_database() as environment:
        report = run_pytest(tmp_path, CONFTEST, REAL_COMMIT_TESTS, "-p", "no:xdist", **environment)
    assert "4 passed" in report and summary(report) == {}, report
    order = re.findall(r"^PASSED test_inner\.py::(\w+)", report, re.MULTILINE)
    assert order[:2] == [
        "test_a_live_server_reads_what_a_real_commit_test_commits",
        "test_the_next_real_commit_test_starts_clean",
    ]


SEEDED_REAL_COMMIT_TESTS = '''
import os
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from conftest import Item
from flask_scoped_db import TestConnection

Path("database.txt").write_text(os.environ["TEST_DATABASE_URL"])


@pytest.fixture(scope="session")
def kept(connection: TestConnection) -> None:
    """Session scope: a row committed for the run, through the connection fixture."""
    with Session(bind=connection.connection) as session:
        session.add(Item(name="kept"))
        session.commit()


def rows(db_session):
    return db_session.execute(select(Item.id, Item.name).order_by(Item.id)).all()


def new_id(db_session, name):
    item = Item(name=name)
    db_session.add(item)
    db_session.commit()
    return item.id


def test_deletes_the_runs_row_for_real(db_session, kept, real_commits):
    assert rows(db_session) == [(1, "kept")]
    db_session.delete(db_session.scalars(select(Item)).one())
    db_session.add(Item(name="new"))
    db_session.commit()
    assert [name for _, name in rows(db_session)] == ["new"]


def test_the_next_real_commit_test_finds_it_again(db_session, kept, real_commits):
    assert rows(db_session) == [(1, "kept")]
    assert new_id(db_session, "next") == 2


def test_a_pair_test_finds_it_again(db_session, kept):
    assert rows(db_session) == [(1, "kept")]
    assert new_id(db_session, "pair") == 2
'''


@pytest.mark.whole_runs
@pytest.mark.skipif(IS_SQLITE_MEMORY, reason="real commits reach another process on a database it can open")
def test_rows_committed_for_the_run_survive_a_real_commit_test(tmp_path: Path) -> None:
    """A row a session-scoped fixture commits through Session(bind=connection.connection) is back, with its id,
    after a real-commit test deleted it for real: the next real-commit test and the next pair test find it,
    and their ids go on after it; the run's database is left without tables."""
    with run_database() as environment:
        report = run_pytest(tmp_path, CONFTEST, SEEDED_REAL_COMMIT_TESTS, "-p", "no:xdist", **environment)
        assert tables_left((tmp_path / "database.txt").read_text()) == []
    assert "3 passed" in report and summary(report) == {}, report


def test_shared_objects_refuse_to_load_between_tests(make_app: t.Callable[..., Flask], notes_db: ScopedDB) -> None:
    """A shared object read in a test is expired again after it: read between tests, the engine refuses with the
    blocker's message; in the next test it reads its row again."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        data = test_connection.shared_data()
        with data as session:
            note = Note(text="shared")
            session.add(note)
            session.commit()
        with test_connection.transaction():
            assert note.text == "shared"
        with pytest.raises(RuntimeError, match="This test used the app's database outside the fixture pair"):
            _ = note.text
        with test_connection.transaction():
            assert note.text == "shared"
        data.close()


def test_a_shared_object_deleted_and_flushed_but_not_committed_is_there_in_the_next_test(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """A shared object that a test deletes and flushes without committing is, in the next test, in its Session
    and reads its row."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        data = test_connection.shared_data()
        with data as session:
            note = Note(text="shared")
            session.add(note)
            session.commit()
        with test_connection.transaction() as session:
            session.delete(note)
            session.flush()
        with test_connection.transaction() as session:
            assert note in session and note.text == "shared"
        data.close()


def test_closing_shared_data_twice_does_nothing_the_second_time(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """A second close() of SharedData neither raises nor ends anything: the next test runs as without it."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        data = test_connection.shared_data()
        with data as session:
            session.add(Note(text="shared"))
            session.commit()
        data.close()
        data.close()
        with test_connection.transaction() as session:
            assert session.scalars(select(Note.text)).all() == []


@pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's AUTOINCREMENT keeps its counters in sqlite_sequence")
def test_a_real_commit_test_restarts_sqlite_autoincrement_ids(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """After a real-commit test, an AUTOINCREMENT table's ids start at 1 again (its counter is reset)."""
    app = make_app(notes_db)
    with app.app_context(), notes_db.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE counted (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT)")
    try:
        with notes_db.test_connection(app) as test_connection:
            for _ in range(2):
                with test_connection.transaction(real_commits=True) as session:
                    result = session.connection().exec_driver_sql("INSERT INTO counted (name) VALUES ('x')")
                    assert result.lastrowid == 1
                    session.commit()
    finally:
        with app.app_context(), notes_db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE counted")


@pytest.mark.skipif(BACKEND != "mysql", reason="MariaDB's AUTO_INCREMENT restarts by ALTER TABLE, which commits")
def test_restart_ids_inside_shared_data_on_mariadb_is_refused(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """On MariaDB, transaction(restart_ids=True) inside open SharedData raises TestSetupError saying why; the
    shared rows are still there for the next test."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        data = test_connection.shared_data()
        with data as session:
            session.add(Note(text="shared"))
            session.commit()
        with (
            pytest.raises(
                TestSetupError, match="restart_ids cannot restart MariaDB's AUTO_INCREMENT inside SharedData"
            ),
            test_connection.transaction(restart_ids=True),
        ):
            pass  # pragma: no cover (refused before the block)
        with test_connection.transaction() as session:
            assert session.scalars(select(Note.text)).all() == ["shared"]
        data.close()


@pytest.mark.skipif(BACKEND != "mysql", reason="MariaDB's session state")
def test_a_test_that_changes_the_mariadb_session_inside_shared_data_fails(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """On MariaDB, a test that sets a user variable inside open SharedData fails with a TestFailure saying the
    scope's next tests run on that session; the shared rows are still there for the next test."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        data = test_connection.shared_data()
        with data as session:
            session.add(Note(text="shared"))
            session.commit()
        with (
            pytest.raises(TestFailure, match="The test changed its MariaDB session"),
            test_connection.transaction() as session,
        ):
            session.execute(text("SET @kept = 1"))
        with test_connection.transaction() as session:
            assert session.scalars(select(Note.text)).all() == ["shared"]
        data.close()


# -- Regressions: an attacker's findings, each fixed.


class FamilyBase(DeclarativeBase):
    query: t.ClassVar[QueryPropertyDescriptor]


class Parent(FamilyBase):
    __tablename__ = "parent"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    kids: Mapped[list[Kid]] = relationship(back_populates="parent", cascade="all, delete-orphan")


class Kid(FamilyBase):
    __tablename__ = "kid"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    parent_id: Mapped[int] = mapped_column(ForeignKey("parent.id"))
    parent: Mapped[Parent] = relationship(back_populates="kids")


FAMILY_DB = ScopedDB(model_class=FamilyBase)


class TreeBase(DeclarativeBase):
    query: t.ClassVar[QueryPropertyDescriptor]


class Node(TreeBase):
    __tablename__ = "node"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("node.id"))


TREE_DB = ScopedDB(model_class=TreeBase)


class CycleBase(DeclarativeBase):
    query: t.ClassVar[QueryPropertyDescriptor]


class Egg(CycleBase):
    __tablename__ = "egg"

    id: Mapped[int] = mapped_column(primary_key=True)
    hen_id: Mapped[int | None] = mapped_column(ForeignKey("hen.id", use_alter=True, name="egg_hen_id_fkey"))


class Hen(CycleBase):
    __tablename__ = "hen"

    id: Mapped[int] = mapped_column(primary_key=True)
    egg_id: Mapped[int | None] = mapped_column(ForeignKey("egg.id"))


CYCLE_DB = ScopedDB(model_class=CycleBase)


def test_a_shared_object_deleted_with_its_loaded_shared_children_is_whole_in_the_next_test(
    make_app: t.Callable[..., Flask],
) -> None:
    """A test that loads a shared parent's children, themselves shared objects, deletes the parent (cascading to
    them) and commits leaves the next test both, as written (was: InvalidRequestError, "has been deleted")."""
    app = make_app(FAMILY_DB)
    with FAMILY_DB.test_connection(app) as test_connection:
        data = test_connection.shared_data()
        with data as session:
            kid = Kid(name="kid")
            parent = Parent(name="parent", kids=[kid])
            session.add(parent)
            session.commit()
        with test_connection.transaction() as session:
            assert parent.kids == [kid]
            session.delete(parent)
            session.commit()
        with test_connection.transaction():
            assert parent.name == "parent" and parent.kids == [kid] and kid.name == "kid"
        data.close()


def test_a_shared_objects_uncommitted_change_left_in_a_closed_session_is_gone_in_the_next_test(
    make_app: t.Callable[..., Flask],
) -> None:
    """A test that changes a shared object without committing, after loading its parent's collection, and closes
    its Session: the next test sees the object as written, and its own commit writes nothing of the change."""
    app = make_app(FAMILY_DB)
    with FAMILY_DB.test_connection(app) as test_connection:
        data = test_connection.shared_data()
        with data as session:
            session.add(Kid(name="kid", parent=Parent(name="parent")))
            session.commit()
            kid = session.scalars(select(Kid)).one()  # the fixture keeps the kid only
        try:
            with test_connection.transaction() as session:
                assert [each.name for each in kid.parent.kids] == ["kid"]
                kid.name = "changed, never committed"
                session.close()
            with test_connection.transaction() as session:
                assert kid.name == "kid"
                session.commit()
                assert session.scalars(select(Kid.name)).all() == ["kid"]
        finally:
            data.close()


def test_a_shared_object_deleted_with_children_only_its_collection_holds_is_whole_in_the_next_test(
    make_app: t.Callable[..., Flask],
) -> None:
    """As the attacker wrote it: the shared fixture keeps the parent only; a test loads its children, deletes it
    (cascading to them) and commits; the next test finds the parent and its child."""
    app = make_app(FAMILY_DB)
    with FAMILY_DB.test_connection(app) as test_connection:
        data = test_connection.shared_data()
        with data as session:
            parent = Parent(name="parent", kids=[Kid(name="kid")])
            session.add(parent)
            session.commit()
        try:
            with test_connection.transaction() as session:
                assert len(parent.kids) == 1
                session.delete(parent)
                session.commit()
            with test_connection.transaction():
                assert parent.name == "parent" and [kid.name for kid in parent.kids] == ["kid"]
        finally:
            data.close()


CLEAN_LATER_TESTS = """
from sqlalchemy import select

from conftest import Item


def test_clean_later(db_session):
    assert db_session.scalars(select(Item.name)).all() == []
"""

DYNAMIC_SHARED_TESTS = """
import pytest
from sqlalchemy import select

from conftest import Item


@pytest.fixture(scope="module")
def module_rows(shared_session):
    shared_session.add(Item(name="module"))
    shared_session.commit()


@pytest.fixture(scope="class")
def class_rows(shared_session):
    shared_session.add(Item(name="class"))
    shared_session.commit()


class TestDynamic:
    def test_sets_shared_data_up_inside(self, db_session, class_rows, request):
        request.getfixturevalue("module_rows")


def test_clean_after(db_session):
    assert db_session.scalars(select(Item.name)).all() == []
"""


@pytest.mark.whole_runs
def test_shared_data_set_up_from_inside_a_test_is_refused_naming_getfixturevalue(tmp_path: Path) -> None:
    """A shared fixture that a test sets up with request.getfixturevalue() fails it with a TestSetupError that
    names getfixturevalue; the tests after it, in the module and in the next, start clean."""
    (tmp_path / "test_later.py").write_text(CLEAN_LATER_TESTS)
    report = outcomes(run_pytest(tmp_path, CONFTEST, DYNAMIC_SHARED_TESTS))
    reason = report.pop("test_inner.py::TestDynamic::test_sets_shared_data_up_inside")
    assert reason.startswith("FAILED: flask_scoped_db.TestSetupError: SharedData cannot begin"), reason
    assert "request.getfixturevalue()" in reason, reason
    assert report == {"test_inner.py::test_clean_after": "PASSED", "test_later.py::test_clean_later": "PASSED"}, report


def test_rows_of_a_self_referencing_table_committed_for_the_run_are_put_back_after_a_real_commit_test(
    make_app: t.Callable[..., Flask],
) -> None:
    """A root and its leaf in a table whose foreign key is its own, committed for the run so that the leaf comes
    first (by id, and by the root's later update), are back after a real-commit test (was: the put-back failed
    on the foreign key)."""
    app = make_app(TREE_DB)
    with TREE_DB.test_connection(app) as test_connection:
        with Session(bind=test_connection.connection) as session:
            root = Node(id=2, name="root")
            session.add(root)
            session.flush()
            session.add(Node(id=1, name="leaf", parent_id=2))
            session.flush()
            root.name = "root2"
            session.commit()
        with test_connection.transaction(real_commits=True):
            pass
        with test_connection.transaction() as session:
            rows = session.execute(select(Node.id, Node.name, Node.parent_id).order_by(Node.id))
            assert [tuple(row) for row in rows] == [(1, "leaf", 2), (2, "root2", None)]


def test_a_real_commit_test_on_tables_whose_foreign_keys_make_a_cycle_warns_not_and_the_next_starts_clean(
    make_app: t.Callable[..., Flask],
) -> None:
    """With two tables whose foreign keys make a cycle (one use_alter), a real-commit test raises no warning
    (the suite's are errors) and the next test finds no rows (was: SAWarning on the cycle)."""
    app = make_app(CYCLE_DB)
    with CYCLE_DB.test_connection(app) as test_connection:
        with test_connection.transaction(real_commits=True) as session:
            egg = Egg()
            session.add(egg)
            session.flush()
            session.add(Hen(egg_id=egg.id))
            session.commit()
        with test_connection.transaction() as session:
            assert session.scalars(select(Hen.id)).all() == []
            assert session.scalars(select(Egg.id)).all() == []


from sqlalchemy import JSON
from sqlalchemy import Computed
from sqlalchemy import Identity
from sqlalchemy import Sequence
from sqlalchemy import null


class LedgerBase(DeclarativeBase):
    query: t.ClassVar[QueryPropertyDescriptor]


class Entry(LedgerBase):
    """Values a put-back through Python would change or could not write: a key from a sequence that no column
    owns (PostgreSQL), a generated column, and a JSON column's SQL NULL beside its JSON null."""

    __tablename__ = "entry"

    id: Mapped[int] = mapped_column(Sequence("entry_number"), primary_key=True)
    net: Mapped[int]
    gross: Mapped[int | None] = mapped_column(Computed("net * 2", persisted=True))  # no NOT NULL: MariaDB refuses it
    data: Mapped[t.Any] = mapped_column(JSON, nullable=True)


LEDGER_DB = ScopedDB(model_class=LedgerBase)


def test_rows_committed_for_the_run_are_put_back_exactly_after_a_real_commit_test(
    make_app: t.Callable[..., Flask],
) -> None:
    """A JSON column's SQL NULL stays SQL NULL and its JSON null stays JSON null, and a generated column is
    generated again (was: the NULL came back as JSON null, and the generated column failed the put-back)."""
    app = make_app(LEDGER_DB)
    with LEDGER_DB.test_connection(app) as test_connection:
        with Session(bind=test_connection.connection) as session:
            session.add_all([Entry(net=1, data=null()), Entry(net=2, data=None), Entry(net=3, data={"a": 1})])
            session.commit()
        with test_connection.transaction(real_commits=True) as session:
            session.add(Entry(net=4))
            session.commit()
        with test_connection.transaction() as session:
            rows = session.execute(select(Entry.net, Entry.gross, Entry.data.is_(None), Entry.data).order_by(Entry.id))
            assert [tuple(row) for row in rows] == [(1, 2, True, None), (2, 4, False, None), (3, 6, False, {"a": 1})]


@pytest.mark.skipif(BACKEND != "postgresql", reason="a sequence no column owns, on PostgreSQL")
def test_a_sequence_no_column_owns_goes_on_after_the_runs_rows_after_a_real_commit_test(
    make_app: t.Callable[..., Flask],
) -> None:
    """After a real-commit test, a sequence that no column owns is where it was before the test, so the next key
    comes after the rows committed for the run (was: it began again at 1, a duplicate key)."""
    app = make_app(LEDGER_DB)
    with LEDGER_DB.test_connection(app) as test_connection:
        with Session(bind=test_connection.connection) as session:
            session.add_all([Entry(net=1), Entry(net=2)])
            session.commit()
        with test_connection.transaction(real_commits=True) as session:
            session.add(Entry(net=3))
            session.commit()
        with test_connection.transaction() as session:
            session.add(Entry(net=4))
            session.flush()
            assert session.scalars(select(Entry.id).order_by(Entry.id)).all() == [1, 2, 3]


class TallyBase(DeclarativeBase):
    query: t.ClassVar[QueryPropertyDescriptor]


class Tally(TallyBase):
    __tablename__ = "tally"

    id: Mapped[int] = mapped_column(Identity(always=True), primary_key=True)
    n: Mapped[int]


TALLY_DB = ScopedDB(model_class=TallyBase)


@pytest.mark.skipif(BACKEND != "postgresql", reason="GENERATED ALWAYS AS IDENTITY, on PostgreSQL")
def test_rows_of_an_always_identity_column_committed_for_the_run_are_put_back_after_a_real_commit_test(
    make_app: t.Callable[..., Flask],
) -> None:
    """Rows whose key is GENERATED ALWAYS AS IDENTITY, committed for the run, are back with their keys after a
    real-commit test (was: the put-back failed, "use OVERRIDING SYSTEM VALUE", and the test's rows stayed)."""
    app = make_app(TALLY_DB)
    with TALLY_DB.test_connection(app) as test_connection:
        with Session(bind=test_connection.connection) as session:
            session.add_all([Tally(n=10), Tally(n=20)])
            session.commit()
        with test_connection.transaction(real_commits=True) as session:
            session.add(Tally(n=30))
            session.commit()
        with test_connection.transaction() as session:
            assert [tuple(row) for row in session.execute(select(Tally.id, Tally.n).order_by(Tally.id))] == [
                (1, 10),
                (2, 20),
            ]


def test_a_table_a_real_commit_test_made_is_dropped_and_the_table_its_key_refers_to_is_kept(
    make_app: t.Callable[..., Flask],
) -> None:
    """A table made in a real-commit test, whose foreign key refers to a table of the run, is dropped after the
    test, and the run's table is kept with its rows (was: dropped with it)."""
    app = make_app(TREE_DB)
    with TREE_DB.test_connection(app) as test_connection:
        with Session(bind=test_connection.connection) as session:
            session.add(Node(id=1, name="root"))
            session.commit()
        with test_connection.transaction(real_commits=True) as session:
            session.execute(text("CREATE TABLE note (id INTEGER PRIMARY KEY, node_id INTEGER REFERENCES node (id))"))
            session.execute(text("INSERT INTO note (id, node_id) VALUES (1, 1)"))
            session.commit()
        with test_connection.transaction() as session:
            assert {"node", "note"} & set(inspect(session.connection()).get_table_names()) == {"node"}
            assert session.scalars(select(Node.name)).all() == ["root"]


def test_rows_whose_foreign_keys_make_a_cycle_committed_for_the_run_are_put_back_after_a_real_commit_test(
    make_app: t.Callable[..., Flask],
) -> None:
    """An egg and a hen that refer to each other, committed for the run, are back after a real-commit test
    (was: on PostgreSQL the put-back failed on the cycle, and the test's rows stayed)."""
    app = make_app(CYCLE_DB)
    with CYCLE_DB.test_connection(app) as test_connection:
        with Session(bind=test_connection.connection) as session:
            session.add_all([Egg(id=1), Hen(id=1, egg_id=1)])
            session.flush()
            session.execute(update(Egg).values(hen_id=1))
            session.commit()
        with test_connection.transaction(real_commits=True) as session:
            session.add(Egg(id=2))
            session.commit()
        with test_connection.transaction() as session:
            assert [tuple(row) for row in session.execute(select(Egg.id, Egg.hen_id))] == [(1, 1)]
            assert [tuple(row) for row in session.execute(select(Hen.id, Hen.egg_id))] == [(1, 1)]


def test_more_rows_committed_for_the_run_than_a_statement_takes_parameters_are_put_back(
    make_app: t.Callable[..., Flask],
) -> None:
    """33,000 rows of three columns, committed for the run, are back after a real-commit test (was: psycopg's
    limit of 65,535 parameters failed the put-back, and the test's rows stayed)."""
    app = make_app(TREE_DB)
    with TREE_DB.test_connection(app) as test_connection:
        with Session(bind=test_connection.connection) as session:
            session.execute(insert(Node), [{"id": n, "name": "n", "parent_id": None} for n in range(1, 33_001)])
            session.commit()
        with test_connection.transaction(real_commits=True) as session:
            session.add(Node(id=40_000, name="by the test"))
            session.commit()
        with test_connection.transaction() as session:
            assert session.execute(select(func.count(), func.max(Node.id))).one() == (33_000, 33_000)


@pytest.mark.skipif(BACKEND != "mysql", reason="MariaDB's temporary tables live on its session")
def test_a_temporary_table_made_in_a_test_on_mariadb_is_gone_in_the_next(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """On MariaDB, a temporary table one test made is gone in the next (was: the session kept it)."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        with test_connection.transaction() as session:
            session.execute(text("CREATE TEMPORARY TABLE kept (x INT)"))
        with test_connection.transaction() as session, pytest.raises(ProgrammingError, match="doesn't exist"):
            session.execute(text("SELECT x FROM kept"))


@pytest.mark.skipif(BACKEND != "mysql", reason="MariaDB's session state")
def test_a_temporary_table_made_inside_shared_data_on_mariadb_fails_the_test(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """On MariaDB, a test that makes a temporary table inside open SharedData fails saying it changed its MariaDB
    session (was: it passed, and the scope's next tests ran with the table)."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        data = test_connection.shared_data()
        with data:
            pass
        with (
            pytest.raises(TestFailure, match="The test changed its MariaDB session"),
            test_connection.transaction() as session,
        ):
            session.execute(text("CREATE TEMPORARY TABLE kept (x INT)"))
        data.close()


def test_shared_data_begun_inside_shared_data_closed_first_fails_its_tests_until_it_is_closed(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """After a SharedData is closed while one begun inside it is open, a test inside the inner one fails saying its
    rows are gone, and why; once the inner one is closed too, tests run again (was: tests ran without the rows)."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        outer = test_connection.shared_data()
        with outer:
            pass
        inner = test_connection.shared_data()
        with inner as session:
            session.add(Note(text="inner"))
            session.commit()
        with pytest.raises(TestFailure):
            outer.close()
        with pytest.raises(TestFailure) as failure, test_connection.transaction():
            pass  # pragma: no cover (refused before the block)
        assert "gone or incomplete" in str(failure.value) and "SharedData was closed while" in str(failure.value)
        inner.close()
        with test_connection.transaction() as session:
            assert session.scalars(select(Note.text)).all() == []


RAISING_SHARED_TESTS = """
import pytest

from conftest import Item


@pytest.fixture(scope="module")
def halfway(shared_session):
    shared_session.add(Item(name="half"))
    shared_session.commit()
    raise ValueError("halfway")


def test_names_it(db_session, halfway):
    pass


def test_runs_in_its_scope(db_session):
    pass
"""


@pytest.mark.whole_runs
def test_a_shared_fixture_that_commits_and_raises_fails_every_test_of_its_scope(tmp_path: Path) -> None:
    """A module-scoped fixture that commits a row and raises fails the module's tests, the one that names it and
    the one that does not, the latter saying its block raised; the next module starts clean (was: the latter
    ran with the row)."""
    (tmp_path / "test_later.py").write_text(CLEAN_LATER_TESTS)
    report = outcomes(run_pytest(tmp_path, CONFTEST, RAISING_SHARED_TESTS))
    assert "ValueError" in report["test_inner.py::test_names_it"], report
    assert report["test_inner.py::test_runs_in_its_scope"].startswith("ERROR: flask_scoped_db.TestFailure"), report
    assert "its block raised ValueError('halfway')" in report["test_inner.py::test_runs_in_its_scope"], report
    assert report["test_later.py::test_clean_later"] == "PASSED", report


@pytest.mark.skipif(IS_SQLITE_MEMORY, reason="in memory, every checkout of the test shares the run's one connection")
def test_a_connection_a_real_commit_test_left_checked_out_fails_no_later_real_commit_test(
    make_app: t.Callable[..., Flask], notes_db: ScopedDB
) -> None:
    """After a real-commit test that left a db.engine connection checked out failed, the next real-commit tests
    pass (was: each failed, "left 1 connection(s)")."""
    app = make_app(notes_db)
    with notes_db.test_connection(app) as test_connection:
        with (
            pytest.raises(TestFailure, match=r"left 1 connection\(s\)"),
            test_connection.transaction(real_commits=True),
        ):
            leaked = notes_db.engine.connect()
            leaked.execute(text("SELECT 1"))
        with test_connection.transaction(real_commits=True) as session:
            session.add(Note(text="committed"))
            session.commit()
        with test_connection.transaction(real_commits=True) as session:
            assert session.scalars(select(Note.text)).all() == []
        leaked.close()


LOCKING_TESTS = """
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import pytest
from conftest import Item, db

LEAKED = []


@pytest.fixture(scope="session", autouse=True)
def kept(connection):
    with Session(bind=connection.connection) as session:
        session.add(Item(name="kept"))
        session.commit()


def test_leaves_a_row_lock(db_session, real_commits):
    LEAKED.append(db.engine.connect())
    LEAKED[0].execute(update(Item).values(name="locked"))


def test_finds_the_runs_row(db_session):
    assert db_session.scalars(select(Item.name)).all() == ["kept"]


def test_a_request_finds_it(client):
    assert client.get("/items").json == ["kept"]
"""


@pytest.mark.whole_runs
@pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL waits on a row lock")
def test_a_connection_a_real_commit_test_left_holding_a_row_lock_stops_nothing_on_postgresql(tmp_path: Path) -> None:
    """On PostgreSQL, a real-commit test that leaves a connection holding a row lock fails, and the run goes on to
    its end, its next tests passing (was: the run hung)."""
    with run_database() as environment:
        process = inner_pytest(tmp_path, CONFTEST, LOCKING_TESTS, "-p", "no:xdist", **environment)
        try:
            report, _ = process.communicate(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # hung, or a straggler of its group
            process.wait()
    failures = summary(report)
    assert list(failures) == ["ERROR at teardown of test_leaves_a_row_lock"], report
    assert "left 1 connection(s)" in failures["ERROR at teardown of test_leaves_a_row_lock"], report
