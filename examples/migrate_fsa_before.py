# mypy: ignore-errors
"""Before: a Flask-SQLAlchemy 3.1 app that uses what ScopedDB leaves out (README: "From
Flask-SQLAlchemy 3.1"); migrate_fsa_after.py is the same app on ScopedDB. Not type-checked, as
mypy cannot check a model whose base is ``db.Model``."""

from __future__ import annotations

import typing as t

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.query import Query
from sqlalchemy import select
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class ArticleQuery(Query):
    def published(self):
        return self.filter_by(published=True)


class BlogArticle(db.Model):
    query_class = ArticleQuery

    id = db.Column(db.Integer, primary_key=True)
    title = db.Column(db.String(100), nullable=False)
    published = db.Column(db.Boolean, nullable=False, default=False)


class Comment(db.Model):
    id = db.Column(db.Integer, primary_key=True)
    article_id = db.Column(db.Integer, db.ForeignKey("blog_article.id"), nullable=False)
    text = db.Column(db.String(200), nullable=False)
    article = db.relationship("BlogArticle", backref=db.backref("comments", lazy="dynamic", order_by=id))


article_tag = db.Table(
    "article_tag",
    db.Column("article_id", db.ForeignKey("blog_article.id"), primary_key=True),
    db.Column("tag", db.String(20), primary_key=True),
)


def create_app(config: dict[str, t.Any]) -> Flask:
    app = Flask(__name__)
    app.config.update(config)
    db.init_app(app)

    @app.get("/articles")
    def list_articles():
        page = BlogArticle.query.published().order_by(BlogArticle.id).paginate(per_page=2)
        return {"titles": [a.title for a in page], "pages": list(page.iter_pages()), "next": page.next_num}

    @app.get("/titles")
    def list_titles():
        page = db.paginate(select(BlogArticle).order_by(BlogArticle.title.desc()))
        return {"titles": [a.title for a in page.items], "total": page.total}

    @app.get("/articles/<int:article_id>")
    def show_article(article_id):
        return {"title": BlogArticle.query.filter_by(id=article_id).first_or_404().title}

    return app
