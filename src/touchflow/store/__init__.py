"""SQL adapters: tables, the unit of work and repositories on SQLite and PostgreSQL."""
