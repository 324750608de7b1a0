"""After: migrate_handwired_before.py on ScopedDB, one Session per app context (README: "From a
hand-wired scoped_session")."""

from __future__ import annotations

import typing as t

from flask import Flask
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import QueryPropertyDescriptor
from sqlalchemy.orm import mapped_column

from flask_scoped_db import ScopedDB


class Base(DeclarativeBase):
    """The models' base class."""

    query: t.ClassVar[QueryPropertyDescriptor]


db = ScopedDB(model_class=Base)
Session = db.session


class Note(Base):
    """A note."""

    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))


def create_app(config: dict[str, t.Any]) -> Flask:
    """The app factory."""
    app = Flask(__name__)
    app.config.update(config)
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    db.init_app(app)
    with app.app_context():
        db.create_all()

    @app.post("/notes/<text>")
    def add_note(text: str) -> dict[str, int]:
        note = Note(text=text)
        Session.add(note)
        Session.commit()
        return {"id": note.id}

    @app.get("/notes")
    def list_notes() -> list[str]:
        return [note.text for note in Note.query.order_by(Note.id)]

    return app
