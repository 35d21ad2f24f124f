"""The database: engines and sessions, the ORM tables, migrations and optimistic concurrency."""
