"""Tests for the example app, on conftest.py's fixture pair: only app and db change."""

from __future__ import annotations

import json
import os
import typing as t
import urllib.request

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import make_url
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session
from todo import Todo
from todo import create_app
from todo import db as todo_db

from flask_scoped_db import ScopedDB


@pytest.fixture(scope="session")
def app() -> t.Iterator[Flask]:
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": os.environ["TEST_DATABASE_URL"]})
    yield app
    with app.app_context():
        todo_db.engine.dispose()


@pytest.fixture(scope="session")
def db() -> ScopedDB:
    return todo_db


def test_add_and_finish_a_todo(client: FlaskClient) -> None:
    todo = client.post("/", data={"title": "buy milk"}).json
    assert todo is not None and todo["done"] is False
    assert client.post(f"/{todo['id']}/done").json == {**todo, "done": True}
    assert client.get("/").json == [{**todo, "done": True}]


def test_finishing_a_missing_todo_is_a_404(client: FlaskClient) -> None:
    assert client.post("/12345/done").status_code == 404


def test_the_test_sees_what_the_view_committed(client: FlaskClient, db_session: scoped_session[Session]) -> None:
    client.post("/", data={"title": "write tests"})
    assert [todo.title for todo in Todo.query] == ["write tests"]


@pytest.mark.skipif(not make_url(os.environ["TEST_DATABASE_URL"]).database, reason="another process cannot read memory")
def test_the_live_server_lists_a_todo_the_test_committed(
    live_server: t.Any, db_session: scoped_session[Session], real_commits: None
) -> None:
    db_session.add(Todo(title="seen by another process"))
    db_session.commit()
    with urllib.request.urlopen(live_server.url("/")) as response:
        assert [todo["title"] for todo in json.load(response)] == ["seen by another process"]
