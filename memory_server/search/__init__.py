"""Finding memories: vector and keyword indexes, filters, ranking and fusion."""
