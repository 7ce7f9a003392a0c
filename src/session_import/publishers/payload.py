"""The remote view of a session that the outbox queues: SessionData's fields, as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping


def session_payload(session, training, teacher) -> dict[str, str | None]:
    """The keyword arguments of contract.SessionData for a session record, its training and
    its teacher (None when it has none)."""
    return {
        "guid": session.guid,
        "title": session.title,
        "start": session.start_date,
        "end": session.end_date,
        "training_path_code": training.path_code,
        "training_title": training.title,
        "training_locale": training.locale,
        "training_modality": training.modality,
        "teacher_ref_number": teacher.ref_number if teacher else None,
    }


def changed_fields(before: Mapping[str, object], after: Mapping[str, object]) -> str:
    """The outbox's ``changed`` column of an update: the names whose value differs, as JSON."""
    return json.dumps(sorted(name for name in after if after[name] != before[name]))
