"""Persistence: SQLModel tables (tables), engines/sessions/migrations (session), queries (by table family)."""
