"""Alembic environment: the URL comes from the caller (``octollm migrate``) or settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import engine_from_config, pool

import octollm.store.api_models
import octollm.store.documents

# Every module that declares tables on the shared Base, so autogenerate sees them all.
import octollm.store.graph_models
import octollm.store.rounds
import octollm.store.webhook_models  # noqa: F401
from octollm.store.models import Base

metadata = Base.metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
if not url:
    from octollm.config import get_settings

    url = get_settings().require_database_url()
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
