"""The row digests on PostgreSQL: store/digests.py's SQL with this store's placeholder,
key list, and a look at who else holds the store now."""

from __future__ import annotations

from collections.abc import Sequence

from session_import.store.digests import Digests
from session_import.store.postgres.lock import STORE_KEY


class PgDigests(Digests):
    _MARK = "%s"

    def _keyed(self, head: str, params: list, keys: Sequence[int]) -> list[tuple]:
        return self.conn.execute(f"{head} AND d.key = ANY(%s)", [*params, list(keys)]).fetchall()

    def sole_writer(self) -> bool:
        """Whether this command alone holds the store's key. Run ids follow the order runs
        began in, not the order they committed in: a digest written while another command
        runs could miss a change that command commits later under a smaller run id."""
        holders = self.conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = %s",
            (STORE_KEY,),
        ).fetchone()[0]
        return holders <= 1
