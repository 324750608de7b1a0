"""Tests that share rows written once for their module (README, "Shared data"), on the example app."""

from __future__ import annotations

import pytest
import test_todo
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session
from todo import Todo

app, db = test_todo.app, test_todo.db  # the example app's fixtures, as test_todo.py overrides them

# Every test of the module runs inside the shared rows, in whatever order the tests run.
pytestmark = pytest.mark.usefixtures("todos")


@pytest.fixture(scope="module")
def todos(shared_session: scoped_session[Session]) -> list[Todo]:
    """Module scope: three todos, written once, that every test of the module sees as written here."""
    todos = [Todo(title=title) for title in ("milk", "bread", "eggs")]
    shared_session.add_all(todos)
    shared_session.commit()
    return todos


def test_a_view_finishes_a_shared_todo(client: FlaskClient, todos: list[Todo]) -> None:
    assert client.post(f"/{todos[0].id}/done").json == {"id": todos[0].id, "title": "milk", "done": True}


def test_the_test_renames_a_shared_todo(db_session: scoped_session[Session], todos: list[Todo]) -> None:
    todos[1].title = "rye bread"
    db_session.commit()
    assert db_session.scalars(select(Todo.title).order_by(Todo.id)).all() == ["milk", "rye bread", "eggs"]


def test_each_test_sees_the_shared_todos_as_written(client: FlaskClient, todos: list[Todo]) -> None:
    assert [(todo.title, todo.done) for todo in todos] == [("milk", False), ("bread", False), ("eggs", False)]
    assert client.get("/").json == [todo.as_dict() for todo in todos]
