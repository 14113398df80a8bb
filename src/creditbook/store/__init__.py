"""Storage: SQLAlchemy Core schema, connections and Alembic migrations."""
