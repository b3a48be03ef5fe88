"""The PostgreSQL + pgvector backend (MEMORY_API_DB=postgresql://...): its connections and SQL."""
