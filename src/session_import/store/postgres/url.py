"""A PostgreSQL store is named by a libpq URL; a password in it is never shown."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

SCHEMES = ("postgresql://", "postgres://")
MASK = "***"


def is_postgres_url(db: object) -> bool:
    """Whether ``--db`` (or SESSION_IMPORT_DB) names a PostgreSQL store rather than a file."""
    return isinstance(db, str) and db.lower().startswith(SCHEMES)


def _secret_key(key: str) -> bool:
    return "password" in key.lower()


def masked(url: str) -> str:
    """The URL as it may be printed: ``postgresql://USER:***@HOST:PORT/DB``, any password
    parameter of the query masked too. A URL that cannot be parsed is not shown at all."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"postgresql://{MASK}"
    netloc = ""
    if parts.username is not None:
        netloc = quote(parts.username, safe="")
        if parts.password is not None:
            netloc += f":{MASK}"
        netloc += "@"
    if ":" in host:
        host = f"[{host}]"
    netloc += host + (f":{port}" if port is not None else "")
    query = parts.query
    if query:
        query = urlencode(
            [
                (k, MASK if _secret_key(k) else v)
                for k, v in parse_qsl(query, keep_blank_values=True)
            ],
            safe="/*",
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def secrets_of(url: str) -> list[str]:
    """The password(s) a URL holds, so that an error message quoting them can be cleaned."""
    found: list[str] = []
    try:
        parts = urlsplit(url)
        if parts.password:
            found += {parts.password, unquote(parts.password)}
        found += [v for k, v in parse_qsl(parts.query) if _secret_key(k) and v]
    except ValueError:
        pass
    return found


def scrub(text: str, url: str) -> str:
    """``text`` (an error from libpq, say) with the URL and its passwords masked."""
    text = text.replace(url, masked(url))
    for secret in sorted(secrets_of(url), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text
