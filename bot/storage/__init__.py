"""Persistence with SQLAlchemy 2: SQLite embedded by default, PostgreSQL for scale."""
