"""An import's ``<publishers>`` (SPEC section 9): the remote LMSs and their settings."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from session_import import catalog
from session_import.config.elements import (
    check_attributes,
    check_container,
    children,
    first_time,
    leaf,
)
from session_import.config.messages import Msg, Problems
from session_import.config.model import PublisherConfig


def read_publishers(el, problems: Problems) -> tuple[PublisherConfig, ...]:
    check_container(el, problems)
    found = []
    seen: dict[str, int] = {}
    for child in children(el):
        if child.tag not in catalog.PUBLISHERS:
            problems.unknown(child, "publishers", tuple(catalog.PUBLISHERS), "publisher")
        elif first_time(child, seen, problems, "publishers"):
            found.append(_publisher(child, problems))
    if not children(el):
        problems.add(el, Msg.NO_PUBLISHER)
    return tuple(found)


def _publisher(el, problems: Problems) -> PublisherConfig:
    check_container(el, problems)
    options = catalog.PUBLISHER_OPTIONS[el.tag]
    settings: dict[str, object] = {}
    seen: dict[str, int] = {}
    trainings: dict[str, tuple[str, str, str]] = {}
    training_lines: dict[str, int] = {}
    for child in children(el):
        if child.tag == "training" and el.tag == "zohoPeoplePublisher":
            _zoho_training(child, trainings, training_lines, problems)
            continue
        if child.tag not in options:
            expected = tuple(options) + (("training",) if el.tag == "zohoPeoplePublisher" else ())
            problems.unknown(child, el.tag, expected, "option")
            continue
        if not first_time(child, seen, problems, el.tag):
            continue
        key, kind = options[child.tag]
        value = _publisher_value(child, kind, problems)
        if value is not None:
            settings[key] = value
    for option in catalog.PUBLISHER_REQUIRED[el.tag]:
        if option not in seen:
            problems.add(el, Msg.PUBLISHER_OPTION_MISSING.format(tag=el.tag, option=option))
    if el.tag == "zohoPeoplePublisher":
        settings["trainings"] = trainings
        has_default = all(settings.get(k) for k in ("course_id", "batch_id", "module_id"))
        if not has_default and not trainings:
            problems.add(el, Msg.PUBLISHER_MODULE)
    return PublisherConfig(catalog.PUBLISHERS[el.tag], el.sourceline or 1, settings)


def _publisher_value(el, kind: str, problems: Problems):
    text = leaf(el, problems)
    if kind == "url":
        if not re.match(r"https?://[^\s/]+", text):
            problems.add(el, Msg.PUBLISHER_URL.format(tag=el.tag, value=text))
            return None
        return text
    if kind.startswith("int:"):
        _, low, high = kind.split(":")
        if not text.isdigit() or not int(low) <= int(text) <= int(high):
            problems.add(
                el, Msg.PUBLISHER_NUMBER.format(tag=el.tag, value=text, low=low, high=high)
            )
            return None
        return int(text)
    if kind == "seconds":
        try:
            seconds = float(text)
        except ValueError:
            seconds = -1.0
        if not seconds > 0 or seconds != seconds or seconds == float("inf"):
            problems.add(el, Msg.PUBLISHER_SECONDS.format(tag=el.tag, value=text))
            return None
        return seconds
    if kind == "zone":
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            problems.add(el, Msg.PUBLISHER_ZONE.format(tag=el.tag, value=text))
            return None
        return text
    if not text:
        problems.add(el, Msg.PUBLISHER_EMPTY.format(tag=el.tag))
        return None
    return text


def _zoho_training(el, trainings: dict, lines: dict, problems: Problems) -> None:
    for child in children(el):
        problems.add(child, Msg.TAKES_NO_VALUE.format(tag=el.tag))
    check_attributes(el, problems, catalog.ZOHO_TRAINING_IDS)
    values = {name: (el.get(name) or "").strip() for name in catalog.ZOHO_TRAINING_IDS}
    missing = [f"{name}=" for name, value in values.items() if not value]
    if missing:
        problems.add(el, Msg.PUBLISHER_TRAINING.format(missing=", ".join(missing)))
        return
    code = values["pathCode"]
    if code in lines:
        problems.add(el, Msg.PUBLISHER_TRAINING_TWICE.format(code=code, first=lines[code]))
        return
    lines[code] = el.sourceline or 1
    trainings[code] = (values["courseId"], values["batchId"], values["moduleId"])
