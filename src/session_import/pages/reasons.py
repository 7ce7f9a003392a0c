"""Messages grouped by the template they were written from, so that 380 rows of
``Teacher with login X is not found.`` are one reason with its 380 logins."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from session_import.messages import Msg
from session_import.publishers.perculus import REJECTED as PERCULUS_REJECTED
from session_import.publishers.zoho import ZohoMsg

# reasons told apart before the others are counted together as one
MAX_REASONS = 200
# distinct values (logins, codes...) counted per reason; past it, only their number grows
MAX_VALUES = 1000
OTHER_REASONS = "Other reasons"
_PLACEHOLDER = re.compile(r"\{(\w+)(?:![rsa])?(?::[^{}]*)?\}")


def _pattern(template: str) -> re.Pattern:
    parts = []
    last = 0
    for found in _PLACEHOLDER.finditer(template):
        parts.append(re.escape(template[last : found.start()]))
        parts.append("(.+?)")
        last = found.end()
    parts.append(re.escape(template[last:]))
    return re.compile("".join(parts), re.DOTALL)


def _label(template: str) -> str:
    return _PLACEHOLDER.sub("…", template)


def _templates() -> list[str]:
    return [m.value for m in Msg] + [PERCULUS_REJECTED, ZohoMsg.REJECTED.value]


class _Matcher:
    """Template of a message by its first word, then the longest template that matches."""

    def __init__(self, templates: list[str]) -> None:
        self._by_word: dict[str, list[tuple[str, re.Pattern]]] = {}
        self._leading: list[tuple[str, re.Pattern]] = []  # templates that start with a value
        self.known = frozenset(templates)
        for template in sorted(templates, key=len, reverse=True):
            entry = (template, _pattern(template))
            head = template.split(" ", 1)[0]
            if _PLACEHOLDER.search(head):
                self._leading.append(entry)
            else:
                self._by_word.setdefault(head, []).append(entry)

    def match(self, text: str) -> tuple[str, tuple[str, ...]]:
        """(the template, its values); a text of no template is its own template."""
        for template, pattern in self._by_word.get(text.split(" ", 1)[0], []) + self._leading:
            found = pattern.fullmatch(text)
            if found:
                return template, found.groups()
        return text, ()


_matcher: _Matcher | None = None


def _shared_matcher() -> _Matcher:
    global _matcher
    if _matcher is None:
        _matcher = _Matcher(_templates())
    return _matcher


@dataclass
class Reason:
    id: int
    label: str
    rows: int = 0
    values: Counter = field(default_factory=Counter)
    values_left_out: int = 0  # occurrences of values past MAX_VALUES distinct ones

    def top_values(self, limit: int) -> list[tuple[str, int]]:
        return self.values.most_common(limit)

    @property
    def distinct_values(self) -> int:
        return len(self.values)


class Reasons:
    """The reasons of a stream of rows: ``add(messages)`` gives the reason ids of one row."""

    def __init__(self) -> None:
        self._matcher = _shared_matcher()
        self._by_template: dict[str, Reason] = {}
        self._other: Reason | None = None

    def add(self, messages: list[str]) -> list[int]:
        ids: list[int] = []
        for text in messages:
            template, values = self._matcher.match(text)
            reason = self._reason(template)
            if reason.id not in ids:
                ids.append(reason.id)
                reason.rows += 1
            if values:
                value = " · ".join(values)
                if value in reason.values or len(reason.values) < MAX_VALUES:
                    reason.values[value] += 1
                else:
                    reason.values_left_out += 1
        return ids

    def _reason(self, template: str) -> Reason:
        reason = self._by_template.get(template)
        if reason is not None:
            return reason
        if len(self._by_template) < MAX_REASONS:
            label = _label(template) if template in self._matcher.known else template
            reason = Reason(len(self._by_template) + 1, label)
            self._by_template[template] = reason
            return reason
        if self._other is None:
            self._other = Reason(0, OTHER_REASONS)
        return self._other

    def largest_first(self) -> list[Reason]:
        reasons = list(self._by_template.values()) + ([self._other] if self._other else [])
        return sorted(reasons, key=lambda r: (-r.rows, r.id if r.id else MAX_REASONS + 1))

    def __bool__(self) -> bool:
        return bool(self._by_template) or self._other is not None
