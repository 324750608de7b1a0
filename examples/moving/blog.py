"""A small blog as an existing suite knows it: flask_scoped_db's example of moving a suite.

Its factory takes a config class, its views live on a module-level blueprint, and ``hasher``
is a module-level extension that keeps its setting on itself, as Flask-Bcrypt does.
"""

from __future__ import annotations

import hashlib
import typing as t

from flask import Blueprint
from flask import Flask
from flask import g
from flask import request
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import QueryPropertyDescriptor
from sqlalchemy.orm import mapped_column

from flask_scoped_db import ScopedDB


class Config:
    """What every config shares."""

    SQLALCHEMY_DATABASE_URI = "sqlite:///blog.db"  # in app.instance_path
    HASH_ROUNDS = 1_000


class ProdConfig(Config):
    """Production: its own database, and slower hashes."""

    SQLALCHEMY_DATABASE_URI = "postgresql+psycopg://blog@db.example.com/blog"
    HASH_ROUNDS = 20_000


class TestConfig(Config):
    """The tests' config; conftest.py gives it the run's database."""

    TESTING = True
    HASH_ROUNDS = 1


class Hasher:
    """Stands in for Flask-Bcrypt: ``init_app`` keeps the app's rounds on
    the extension itself, so the app made last sets them for every app."""

    rounds = 1

    def init_app(self, app: Flask) -> None:
        """Take ``app``'s ``HASH_ROUNDS``."""
        self.rounds = app.config["HASH_ROUNDS"]

    def hash(self, password: str) -> str:
        """``password``, hashed with the rounds of the app made last."""
        return hashlib.pbkdf2_hmac("sha256", password.encode(), b"salt", self.rounds).hex()


class Base(DeclarativeBase):
    """The models' base class; ScopedDB sets ``query``, declared here for type checkers."""

    query: t.ClassVar[QueryPropertyDescriptor]


db = ScopedDB(model_class=Base)
hasher = Hasher()
users = Blueprint("users", __name__)


class User(Base):
    """A user who signed up."""

    __tablename__ = "account"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50), unique=True)
    password_hash: Mapped[str] = mapped_column(String(64))


@users.post("/users/<name>")
def sign_up(name: str) -> tuple[dict[str, int], int]:
    """Add a user with the form's password, hashed."""
    user = User(name=name, password_hash=hasher.hash(request.form["password"]))
    db.session.add(user)
    db.session.commit()
    return {"id": user.id}, 201


@users.get("/users/<int:user_id>")
def show_user(user_id: int) -> dict[str, str]:
    """The user, also kept in ``g.user``, as views that load the current user do."""
    g.user = db.get_or_404(User, user_id)
    return {"name": g.user.name}


@users.post("/users/<int:user_id>/rename")
def rename_user(user_id: int) -> dict[str, str]:
    """Give the user the form's name."""
    user = db.get_or_404(User, user_id)
    user.name = request.form["name"]
    db.session.commit()
    return {"name": user.name}


def create_app(config: type[Config] = ProdConfig) -> Flask:
    """The app factory: everything module-level (the blueprint's views, the
    extensions) is made once, at import; the factory only applies them."""
    app = Flask(__name__)
    app.config.from_object(config)
    db.init_app(app)
    hasher.init_app(app)
    app.register_blueprint(users)
    return app
