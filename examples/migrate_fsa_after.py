"""After: migrate_fsa_before.py on ScopedDB, with the recipes of recipes.py (README: "From
Flask-SQLAlchemy 3.1"). ``recipes`` stands for the module of your app you copy them into."""

from __future__ import annotations

import typing as t

from flask import Flask
from recipes import Base
from recipes import Query
from recipes import db
from recipes import paginate
from sqlalchemy import Boolean
from sqlalchemy import Column
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Table
from sqlalchemy import select
from sqlalchemy.orm import backref
from sqlalchemy.orm import relationship


class ArticleQuery(Query["BlogArticle"]):
    """The query class of BlogArticle."""

    def published(self) -> ArticleQuery:
        """Only the published articles."""
        return self.filter_by(published=True)


class BlogArticle(Base):
    """An article."""

    query: t.ClassVar[ArticleQuery] = db.session.query_property(ArticleQuery)  # type: ignore[assignment]

    id = Column(Integer, primary_key=True)
    title = Column(String(100), nullable=False)
    published = Column(Boolean, nullable=False, default=False)


class Comment(Base):
    """A comment on an article."""

    id = Column(Integer, primary_key=True)
    article_id = Column(Integer, ForeignKey("blog_article.id"), nullable=False)
    text = Column(String(200), nullable=False)
    article = relationship("BlogArticle", backref=backref("comments", lazy="dynamic", order_by=id, query_class=Query))


article_tag = Table(
    "article_tag",
    db.metadata,
    Column("article_id", ForeignKey("blog_article.id"), primary_key=True),
    Column("tag", String(20), primary_key=True),
)


def create_app(config: dict[str, t.Any]) -> Flask:
    """The app factory."""
    app = Flask(__name__)
    app.config.update(config)
    db.init_app(app)

    @app.get("/articles")
    def list_articles() -> dict[str, t.Any]:
        page = BlogArticle.query.published().order_by(BlogArticle.id).paginate(per_page=2)
        return {"titles": [a.title for a in page], "pages": list(page.iter_pages()), "next": page.next_num}

    @app.get("/titles")
    def list_titles() -> dict[str, t.Any]:
        page = paginate(select(BlogArticle).order_by(BlogArticle.title.desc()))
        return {"titles": [a.title for a in page.items], "total": page.total}

    @app.get("/articles/<int:article_id>")
    def show_article(article_id: int) -> dict[str, t.Any]:
        return {"title": BlogArticle.query.filter_by(id=article_id).first_or_404().title}

    return app
