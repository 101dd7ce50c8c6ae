"""Persistence: SQLAlchemy 2 tables, packaged Alembic migrations, and a writer thread that never blocks beds."""

from service.store.database import Store, create_db_engine, default_url, upgrade

__all__ = ["Store", "create_db_engine", "default_url", "upgrade"]
