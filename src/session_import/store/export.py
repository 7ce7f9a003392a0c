"""The queries behind `session-import export`: each kind of record, with the publishing
state of each session once something was queued for a remote LMS."""

from __future__ import annotations

import json
from collections.abc import Iterator

from session_import.store.connection import Connection, translated

_QUERIES = {
    "sessions": """
                SELECT s.id, s.guid, s.title, s.status, s.start_date, s.end_date,
                       t.path_code AS training_path_code, s.training_id,
                       u.login AS teacher_login, g.guid AS group_guid, g.name AS group_name,
                       s.created_by_import, s.updated_by_import
                FROM sessions s
                JOIN trainings t ON t.id = s.training_id
                LEFT JOIN users u ON u.id = s.teacher_id
                LEFT JOIN groups g ON g.id = s.group_id
                ORDER BY s.id""",
    "trainings": """
                SELECT id, guid, path_code, title, locale, modality FROM trainings ORDER BY id""",
    "users": """
                SELECT id, login, ref_number, email, name, firstname FROM users ORDER BY id""",
    "groups": """
                SELECT g.id, g.guid, g.name, p.guid AS parent_guid
                FROM groups g LEFT JOIN groups p ON p.id = g.parent_id ORDER BY g.id""",
}

# per session, from the outbox's (session_id, publisher, id) index: its remote ids, and
# the worst state over its publishers of its latest change
_PUBLISHING_COLUMNS = """s.created_by_import,
                       s.updated_by_import,
                       (SELECT json_group_object(p.publisher, r.remote_id)
                        FROM (SELECT DISTINCT publisher FROM outbox WHERE session_id = s.id) p
                        LEFT JOIN remote_ids r ON r.session_id = s.id AND r.publisher = p.publisher
                       ) AS remote,
                       (SELECT max(CASE o.state WHEN 'rejected' THEN 2 WHEN 'pending' THEN 1
                                   ELSE 0 END)
                        FROM outbox o WHERE o.id IN (SELECT max(id) FROM outbox
                                                     WHERE session_id = s.id GROUP BY publisher)
                       ) AS publish_state"""
_STATES = {None: None, 0: "published", 1: "pending", 2: "rejected"}


class Export(Connection):
    def export(self, kind: str) -> tuple[list[str], Iterator[dict]]:
        """The column names of ``kind``, and its records as dicts in id order."""
        publishing = (
            kind == "sessions"
            and self.conn.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is not None
        )
        sql = _QUERIES[kind]
        if publishing:
            sql = sql.replace("s.created_by_import, s.updated_by_import", _PUBLISHING_COLUMNS)
        cursor = self.conn.execute(sql)
        names = [d[0] for d in cursor.description]
        if not publishing:
            return names, translated(dict(zip(names, row, strict=True)) for row in cursor)

        def with_remote(row):
            record = dict(zip(names, row, strict=True))
            remote = json.loads(record["remote"]) if record["remote"] else {}
            record["remote"] = remote or None
            record["publish_state"] = _STATES[record["publish_state"]]
            return record

        return names, translated(with_remote(row) for row in cursor)
