"""SQLite: the connection, the migrations, memories, idempotency records, statistics."""
