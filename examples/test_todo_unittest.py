# SPDX-License-Identifier: MIT
"""Tests for the example app with unittest: every test inside one database
transaction that is rolled back.

The unittest face of the pair that conftest.py is for pytest, on the same
test part of flask_scoped_db.py: ``setUpClass`` opens the run's own database
(``TestDatabase``) and the one connection every test works on
(``db.test_connection(app)``); ``setUp`` runs each test inside
``connection.transaction()``, whose cleanup rolls it back and fails the test
(``TestFailure``) if the code under test escaped it. A class whose tests share
rows writes them once in its own ``setUpClass``, inside
``connection.shared_data()``. README.md, "Testing", explains each piece.

Run it from the repository root::

    python -m unittest examples/test_todo_unittest.py -v
    TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test python -m unittest examples/test_todo_unittest.py

``TEST_DATABASE_URL`` names the database (default: an SQLite file in the
current directory). The tests never touch that database itself, but one of
their own beside it. pytest runs this file too.
"""

from __future__ import annotations

import contextlib
import os
import sys
import typing as t
import unittest
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session

from flask_scoped_db import TestConnection
from flask_scoped_db import TestDatabase
from flask_scoped_db import check_version

# `python -m unittest examples/test_todo_unittest.py` imports this file as
# examples.test_todo_unittest, with only the repository root on sys.path:
# the example app sits beside it. (pytest puts this folder there itself.)
sys.path.insert(0, str(Path(__file__).resolve().parent))
# isort: split
from todo import Todo
from todo import create_app
from todo import db

# The flask_scoped_db release this file was written for: README, "Upgrading".
WRITTEN_FOR = "0.4.0"

_T = t.TypeVar("_T")


class PairTestCase(unittest.TestCase):
    """The pair for unittest: subclass it, and each test of the subclass
    runs inside a transaction of its own, on a database of the class's own."""

    restart_ids: t.ClassVar[bool] = False
    """Set it to True in a class whose tests compare ids: each test's
    autoincrement ids then start right after the rows their tables held
    before the test (at 1 in an empty table), on PostgreSQL and MariaDB too."""

    app: t.ClassVar[Flask]
    connection: t.ClassVar[TestConnection]
    session: scoped_session[Session]
    client: FlaskClient

    @classmethod
    def setUpClass(cls) -> None:
        """For the class, part 1 of the pair: a database of its own beside the
        one ``TEST_DATABASE_URL`` names, the app on it with ``TESTING`` on,
        the tables and the one connection every test runs on. Class cleanups
        undo it all, last first. A mistake in the URL is a TestSetupError that
        says what to do."""
        super().setUpClass()
        # Class cleanups rather than module ones: pytest, which runs this file
        # too, never runs unittest.addModuleCleanup's (pytest-dev/pytest#14958).
        check_version(WRITTEN_FOR)
        database = TestDatabase(os.environ.get("TEST_DATABASE_URL", "sqlite:///test.db"))
        url = database.open()
        cls.addClassCleanup(database.close)
        # render_as_string: str(url) would hide the password as ***.
        cls.app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url.render_as_string(hide_password=False)})
        cls.addClassCleanup(_dispose_engine, cls.app)
        cls.connection = _enter_context(db.test_connection(cls.app), cls.addClassCleanup)

    def setUp(self) -> None:
        """For each test, part 2 of the pair: ``db.session`` in an app context
        of the test's own, inside a transaction that the cleanup rolls back;
        the cleanup fails the test, naming the cause, if its code ended that
        transaction or left connections or contexts behind. A test client
        whose every request has a Session of its own in that transaction."""
        super().setUp()
        self.session = _enter_context(self.connection.transaction(restart_ids=self.restart_ids), self.addCleanup)
        self.client = self.app.test_client()


class TodoTests(PairTestCase):
    """The example app's views, each test inside a transaction of its own."""

    def test_a_todo_a_request_commits_is_seen_by_the_test(self) -> None:
        """What a view commits, the test's own Session reads."""
        response = self.client.post("/", data={"title": "buy milk"})
        self.assertEqual(response.status_code, 201)
        self.assertEqual(self.session.scalars(select(Todo.title)).all(), ["buy milk"])

    def test_finishing_a_todo_marks_it_done(self) -> None:
        """A todo added by one request and finished by another is listed as done."""
        todo = self.client.post("/", data={"title": "write tests"}).json
        assert todo is not None
        self.assertEqual(self.client.post(f"/{todo['id']}/done").json, {**todo, "done": True})
        self.assertEqual(self.client.get("/").json, [{**todo, "done": True}])

    def test_finishing_a_missing_todo_is_a_404(self) -> None:
        """A view that raises NotFound answers 404."""
        self.assertEqual(self.client.post("/12345/done").status_code, 404)

    def test_a_todo_the_test_did_not_commit_is_not_seen_by_a_request(self) -> None:
        """A request has a Session of its own: it sees what the test added only once the test commits."""
        self.session.add(Todo(title="forgotten"))
        self.assertEqual(self.listed_titles(), [])
        self.session.commit()
        self.assertEqual(self.listed_titles(), ["forgotten"])

    # Two tests that each start by checking the table is empty: whichever runs
    # second (and every test that runs before them) would leave rows behind if
    # a test's transaction were not rolled back.

    def test_rows_are_gone_after_each_test_added_by_a_request(self) -> None:
        """The table is empty when the test starts, whatever a request committed in an earlier test."""
        self.assertEqual(self.session.scalars(select(Todo.title)).all(), [])
        self.client.post("/", data={"title": "from a request"})
        self.assertEqual(self.listed_titles(), ["from a request"])

    def test_rows_are_gone_after_each_test_added_by_the_test(self) -> None:
        """The table is empty when the test starts, whatever an earlier test committed itself."""
        self.assertEqual(self.session.scalars(select(Todo.title)).all(), [])
        self.session.add(Todo(title="from the test"))
        self.session.commit()
        self.assertEqual(self.listed_titles(), ["from the test"])

    def test_listing_the_todos_is_one_query(self) -> None:
        """The list view sends one SELECT, however many todos there are."""
        self.client.post("/", data={"title": "one"})
        self.client.post("/", data={"title": "two"})
        with self.connection.assert_num_queries(1):
            self.assertEqual(self.listed_titles(), ["one", "two"])

    def listed_titles(self) -> list[str]:
        """The titles of the todos a request lists."""
        return _titles(self.client)


class SharedTodosTests(PairTestCase):
    """Tests that share three todos, written once for the class."""

    todos: t.ClassVar[list[Todo]]

    @classmethod
    def setUpClass(cls) -> None:
        """For the class: the pair, then three todos its tests share, inside
        ``connection.shared_data()``, which the class cleanup rolls back.
        Each test sees them as written, and ``cls.todos`` in its own
        ``db.session``, whatever the test before it did to them."""
        super().setUpClass()
        data = cls.connection.shared_data()
        cls.addClassCleanup(data.close)
        with data:
            cls.todos = [Todo(title=title) for title in ("one", "two", "three")]
            db.session.add_all(cls.todos)
            db.session.commit()

    # Each of the next two tests changes the shared todos, and checks first that
    # they are as written: whichever runs second would see the other's changes.

    def test_a_shared_todo_finished_by_a_request_is_unfinished_in_the_next_test(self) -> None:
        """What a request commits to a shared row is gone in the next test."""
        self.assert_as_written()
        self.client.post(f"/{self.todos[0].id}/done")
        self.session.refresh(self.todos[0])
        self.assertTrue(self.todos[0].done)

    def test_a_shared_todo_deleted_by_the_test_is_back_in_the_next_test(self) -> None:
        """A shared object the test deletes and commits is back, usable, in the next test."""
        self.assert_as_written()
        self.session.delete(self.todos[1])
        self.session.commit()
        self.todos[2].title = "changed"
        self.session.commit()
        self.assertEqual(_titles(self.client), ["one", "changed"])

    def assert_as_written(self) -> None:
        """The shared todos, as objects and as a request lists them, are as setUpClass wrote them."""
        self.assertEqual(
            [(todo.title, todo.done) for todo in self.todos], [(t, False) for t in ("one", "two", "three")]
        )
        self.assertEqual(_titles(self.client), ["one", "two", "three"])


def _titles(client: FlaskClient) -> list[str]:
    """The titles of the todos a request lists."""
    todos = client.get("/").json
    assert todos is not None
    return [todo["title"] for todo in todos]


def _dispose_engine(app: Flask) -> None:
    """Close the connections of ``app``'s engine."""
    with app.app_context():
        db.engine.dispose()


def _enter_context(manager: contextlib.AbstractContextManager[_T], add_cleanup: t.Callable[..., object]) -> _T:
    """Enter ``manager``, and register its exit with ``add_cleanup``: what
    ``TestCase.enterContext`` and ``enterClassContext`` do, which are Python
    3.11+. An exception its exit raises (a TestFailure) fails the test."""
    entered = manager.__enter__()
    add_cleanup(manager.__exit__, None, None, None)
    return entered
