"""The PostgreSQL store's parts: its URL, its schema, its run lock."""
