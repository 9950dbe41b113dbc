"""Full-text search: one interface, two engines (PostgreSQL tsvector + GIN, SQLite FTS5),
the same query syntax (websearch: words, "quoted phrases", OR, -word) and the same results."""
