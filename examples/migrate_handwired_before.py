"""Before: the hand-wired scoped_session of many blog posts, one Session per thread (README:
"From a hand-wired scoped_session"). migrate_handwired_after.py is the same app on ScopedDB."""

from __future__ import annotations

import typing as t

from flask import Flask
from sqlalchemy import String
from sqlalchemy import create_engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import QueryPropertyDescriptor
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker

Session = scoped_session(sessionmaker())


class Base(DeclarativeBase):
    """The models' base class."""

    query: t.ClassVar[QueryPropertyDescriptor]


Base.query = Session.query_property()


class Note(Base):
    """A note."""

    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))


def create_app(config: dict[str, t.Any]) -> Flask:
    """The app factory."""
    app = Flask(__name__)
    app.config.update(config)
    engine = create_engine(app.config["DATABASE_URL"])
    Session.configure(bind=engine)
    Base.metadata.create_all(engine)

    @app.teardown_appcontext
    def remove_session(exc: BaseException | None) -> None:
        Session.remove()

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
