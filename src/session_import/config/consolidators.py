"""An import's ``<consolidators>``: what runs after each file, with its options checked."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from session_import import catalog
from session_import.config.elements import check_container, children, first_time, leaf, yes_no
from session_import.config.folders import config_folder
from session_import.config.messages import Msg, Problems
from session_import.config.model import ConsolidatorConfig

_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
_EMAIL = re.compile(rf"[^@\s<>()\[\],;:\"]+@{_LABEL}(?:\.{_LABEL})+")


def read_consolidators(el, base: Path, problems: Problems) -> tuple[ConsolidatorConfig, ...]:
    """Each supported consolidator at most once, in CrossKnowledge's running order."""
    check_container(el, problems)
    found: dict[str, ConsolidatorConfig] = {}
    for child in children(el):
        name = child.tag
        if name not in catalog.RUNNING_ORDER:
            problems.unknown(child, "consolidators", tuple(catalog.RUNNING_ORDER), "consolidator")
        elif name in found:
            problems.add(child, Msg.CONSOLIDATOR_TWICE.format(tag=name, first=found[name].line))
        else:
            found[name] = _consolidator(child, name, base, problems)
    if catalog.HTML_REPORT in found:
        found[catalog.HTML_REPORT] = _html_report_location(found, problems, el)
    return tuple(found[n] for n in catalog.RUNNING_ORDER if n in found)


def _html_report_location(
    found: dict[str, ConsolidatorConfig], problems: Problems, el
) -> ConsolidatorConfig:
    """``<htmlReport>`` without ``<location>`` writes next to the error log."""
    page = found[catalog.HTML_REPORT]
    page_el = next(c for c in children(el) if c.tag == catalog.HTML_REPORT)
    if any(c.tag == "location" for c in children(page_el)):
        return page  # its own, or said missing already
    log = found.get("timeStampedFileErrorLogger")
    if log is None or "location" not in log.options:
        problems.add(page_el, Msg.PARAMETER_MISSING.format(option="location"))
        return page
    return replace(page, options={**page.options, "location": log.options["location"]})


def _consolidator(el, name: str, base: Path, problems: Problems) -> ConsolidatorConfig:
    check_container(el, problems)
    allowed = catalog.RUNNING_ORDER[name] + ("disabled",)
    options: dict[str, list[str]] = {}
    disabled = False
    seen: dict[str, int] = {}
    for child in children(el):
        option = child.tag
        if option not in allowed:
            problems.unknown(child, name, allowed, "option")
            continue
        if option != "targetEmail" and not first_time(child, seen, problems, name):
            continue
        if option == "disabled":
            disabled = yes_no(child, problems)
        elif option == "timestamp":
            options[option] = ["yes" if yes_no(child, problems) else "no"]
        elif option in catalog.CONSOLIDATOR_FOLDER_OPTIONS:
            text = leaf(child, problems)
            folder = config_folder(child, text, base, problems) if text else None
            if not text:
                problems.add(child, Msg.PARAMETER_MISSING.format(option=option))
            elif folder is not None:
                options[option] = [str(folder)]
        elif option == "targetEmail":
            address = leaf(child, problems)
            if not address:
                problems.add(child, Msg.PARAMETER_MISSING.format(option=option))
            elif not _EMAIL.fullmatch(address):
                problems.add(child, Msg.INVALID_EMAIL.format(address=address))
            else:
                options.setdefault(option, []).append(address)
    if name == "moveToBackupConsolidator":
        options.setdefault("timestamp", ["no"])
    required = catalog.CONSOLIDATOR_REQUIRED_OPTION.get(name)
    if required and not any(c.tag == required for c in children(el)):
        problems.add(el, Msg.PARAMETER_MISSING.format(option=required))
    return ConsolidatorConfig(
        name, {k: tuple(v) for k, v in options.items()}, disabled, el.sourceline or 1
    )
