"""A to-do list in one file: the README's worked example of flask_scoped_db."""

from __future__ import annotations

import typing as t

from flask import Flask
from flask import request
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import QueryPropertyDescriptor
from sqlalchemy.orm import mapped_column

from flask_scoped_db import ScopedDB


class Base(DeclarativeBase):
    """The models' base class."""

    # ScopedDB sets Base.query; declaring it lets type checkers see Query[Todo].
    query: t.ClassVar[QueryPropertyDescriptor]


db = ScopedDB(model_class=Base)


class Todo(Base):
    """One thing to do."""

    __tablename__ = "todo"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    done: Mapped[bool] = mapped_column(default=False)

    def as_dict(self) -> dict[str, t.Any]:
        """The JSON the views return."""
        return {"id": self.id, "title": self.title, "done": self.done}


def create_app(config: dict[str, t.Any] | None = None) -> Flask:
    """The app factory: ``config`` overrides the defaults, as tests do."""
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///todo.db"  # in app.instance_path
    app.config.update(config or {})
    db.init_app(app)

    with app.app_context():
        db.create_all()  # fine for an example; real apps run migrations

    @app.get("/")
    def list_todos() -> list[dict[str, t.Any]]:
        return [todo.as_dict() for todo in Todo.query.order_by(Todo.id)]

    @app.post("/")
    def add_todo() -> tuple[dict[str, t.Any], int]:
        todo = Todo(title=request.form["title"])
        db.session.add(todo)
        db.session.commit()
        return todo.as_dict(), 201

    @app.post("/<int:todo_id>/done")
    def finish_todo(todo_id: int) -> dict[str, t.Any]:
        todo = db.get_or_404(Todo, todo_id)
        todo.done = True
        db.session.commit()
        return todo.as_dict()

    return app
