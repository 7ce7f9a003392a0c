"""The PostgreSQL backend of the store: its URL, schema, run lock, claims and pace."""
