"""The example app's Alembic migrations build exactly the schema of its models."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy import create_engine
from todo import Base


def upgrade_to_head(engine: Engine) -> None:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def test_migrations_build_the_models_schema() -> None:
    engine = create_engine(os.environ["TEST_DATABASE_URL"])
    try:
        upgrade_to_head(engine)
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
            connection.exec_driver_sql("DROP TABLE todo")
            connection.exec_driver_sql("DROP TABLE alembic_version")
            connection.commit()
    finally:
        engine.dispose()
