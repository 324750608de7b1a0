"""Tests of the factory with other configs."""

from __future__ import annotations

import typing as t

from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import scoped_session

from blog import Config
from blog import ProdConfig
from blog import TestConfig
from blog import User
from blog import db
from blog import hasher


def test_production_hashes_with_more_rounds() -> None:
    """What a config says is read from the class: no app is built for it."""
    assert ProdConfig.HASH_ROUNDS > TestConfig.HASH_ROUNDS


def test_a_production_app_signs_up_inside_the_tests_transaction(
    make_app: t.Callable[[type[Config]], Flask], db_session: scoped_session[Session]
) -> None:
    """An app made in a test joins its transaction; it keeps its URL, and writes to the test's database."""
    production = make_app(ProdConfig)
    assert production.test_client().post("/users/ada", data={"password": "secret"}).status_code == 201
    with production.app_context():
        assert db.engine.url.host == "db.example.com"
    assert db_session.scalar(select(func.count()).select_from(User)) == 1
    assert hasher.rounds == ProdConfig.HASH_ROUNDS


def test_the_app_under_test_hashes_with_its_own_rounds(app: Flask) -> None:
    """make_app set the module-level extension up for the app under test again after the test above."""
    assert hasher.rounds == app.config["HASH_ROUNDS"] == TestConfig.HASH_ROUNDS
