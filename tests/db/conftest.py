"""The database fixtures live in tests/database_fixtures.py (a plugin of the whole suite)."""

from tests.database_fixtures import TEST_DATABASE_ENV, backend_of

__all__ = ["TEST_DATABASE_ENV", "backend_of"]
