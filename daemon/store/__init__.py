"""Storage: the database connection, the single writer, models and numbered migrations."""
