"""session-import: bulk import of training sessions into an embedded SQLite store."""

__version__ = "0.1.0"
