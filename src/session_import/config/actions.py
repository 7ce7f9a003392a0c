"""An import's ``<actions>``: each action's options, search fields, fields and codes."""

from __future__ import annotations

from session_import import catalog
from session_import.config.elements import (
    canonical,
    check_container,
    check_empty,
    children,
    first_time,
    leaf,
    text_of,
    yes_no,
)
from session_import.config.messages import Msg, Problems
from session_import.config.model import ActionConfig, FieldSpec, SnapshotConfig


def read_actions(el, problems: Problems, mapping_codes) -> tuple[ActionConfig, ...]:
    check_container(el, problems)
    actions = []
    for child in children(el):
        action = catalog.ACTIONS.get(child.tag)
        if action is None:
            problems.unknown(child, "actions", tuple(catalog.ACTIONS), "action")
        else:
            actions.append(_action(child, action, problems, mapping_codes))
    if not children(el):
        problems.add(el, Msg.NO_ACTION)
    return tuple(actions)


def _option_owner(tag: str) -> str | None:
    return next((a.name for a in catalog.ACTIONS.values() if tag in a.options), None)


def _action(el, action: catalog.ActionSchema, problems: Problems, mapping_codes) -> ActionConfig:
    check_container(el, problems)
    parts: dict[str, object] = {}
    seen: dict[str, int] = {}
    for child in children(el):
        if child.tag in ("options", "fields"):
            if first_time(child, seen, problems, action.name):
                parts[child.tag] = child
        elif child.tag in action.options:
            problems.add(child, Msg.BELONGS_IN_OPTIONS.format(tag=child.tag))
        else:
            problems.unknown(child, action.name, ("options", "fields"))
    fields: tuple[FieldSpec, ...] = ()
    if "fields" in parts:
        fields = read_fields(parts["fields"], action, problems, mapping_codes)
    else:
        problems.add(el, Msg.NO_FIELDS.format(action=action.name))
    snapshot: dict[str, str] = {}
    search, full_access = read_options(
        parts.get("options"),
        action,
        problems,
        fields=fields if "fields" in parts else None,
        action_el=el,
        snapshot=snapshot,
    )
    return ActionConfig(
        action.name,
        fields,
        search,
        full_access,
        el.sourceline or 1,
        snapshot_config(snapshot, action),
    )


def snapshot_config(written: dict[str, str], action: catalog.ActionSchema) -> SnapshotConfig | None:
    """A snapshot feed's settings, or None when missing sessions are kept (the default)."""
    if written.get(catalog.MISSING_SESSIONS) != "cancel":
        return None
    return SnapshotConfig(
        scope=written.get(catalog.MISSING_SCOPE, "future"),
        mentioned_trainings=written.get(catalog.MISSING_TRAININGS) == "mentioned",
    )


def _snapshot_option(el, action: catalog.ActionSchema, problems: Problems) -> str | None:
    allowed = action.snapshot_options[el.tag]
    value = leaf(el, problems).strip()
    if value.lower() in allowed:
        return value.lower()
    problems.add(
        el,
        Msg.SNAPSHOT_VALUE.format(
            tag=el.tag, value=value, expected=" or ".join(allowed), default=allowed[0]
        ),
    )
    return None


def read_options(
    el,
    action: catalog.ActionSchema,
    problems: Problems,
    *,
    fields,
    action_el,
    snapshot: dict[str, str] | None = None,
):
    """(search fields, fullAccess); ``fields`` None checks the options alone (a fragment).
    ``snapshot`` receives the snapshot options written (option -> value)."""
    search: list[str] = []
    full_access = False
    seen: dict[str, int] = {}
    if el is not None:
        check_container(el, problems)
        for child in children(el):
            owner = _option_owner(child.tag)
            if child.tag in action.options:
                if not first_time(child, seen, problems, "options"):
                    continue
                if child.tag == "fullAccess":
                    full_access = yes_no(child, problems)
                elif child.tag in action.snapshot_options:
                    value = _snapshot_option(child, action, problems)
                    if value is not None and snapshot is not None:
                        snapshot[child.tag] = value
                else:
                    search = _search_fields(child, action, problems, fields)
            elif owner is not None:
                problems.add(
                    child,
                    Msg.OTHER_ACTIONS_OPTION.format(tag=child.tag, owner=owner, action=action.name),
                )
            else:
                problems.unknown(child, "options", action.options, "option")
    if action.search_option_mandatory and action.search_option not in seen:
        where = el if el is not None else action_el
        if where is not None:
            problems.add(
                where,
                Msg.NO_SEARCH_OPTION.format(
                    action=action.name,
                    option=action.search_option,
                    expected=", ".join(action.search_fields),
                ),
            )
    if action.name == catalog.LEARNER_ACTION and not search and fields:
        configured = {f.name for f in fields}
        search = [n for n in action.at_least_one if n in configured][:1]
    return tuple(search), full_access


def _search_fields(el, action: catalog.ActionSchema, problems: Problems, fields) -> list[str]:
    check_container(el, problems)
    expected = ", ".join(f"<{n}>" for n in action.search_fields)
    configured = None if fields is None else {f.name for f in fields}
    names: list[str] = []
    lines: dict[str, int] = {}
    for item in children(el):
        if item.tag in action.fields and item.tag not in action.search_fields:
            problems.add(
                item, Msg.NOT_A_SEARCH_FIELD.format(tag=item.tag, option=el.tag, expected=expected)
            )
            continue
        name = canonical(item, action.search_fields, problems, el.tag)
        if name is None:
            continue
        check_empty(item, problems)
        if name in lines:
            problems.add(item, Msg.FIELD_TWICE.format(name=name, parent=el.tag, first=lines[name]))
            continue
        lines[name] = item.sourceline or 1
        if configured is not None and name not in configured:
            problems.add(item, Msg.SEARCH_FIELD_NOT_IN_FIELDS.format(name=name))
        names.append(name)
    if not children(el):
        problems.add(
            el, Msg.EMPTY_SEARCH.format(option=el.tag, expected=", ".join(action.search_fields))
        )
    return names


def read_fields(
    el, action: catalog.ActionSchema, problems: Problems, mapping_codes
) -> tuple[FieldSpec, ...]:
    """The action's fields; a code list merges the defaults, <columnsMapping>'s codes, then
    its own."""
    check_container(el, problems)
    valid = tuple(action.fields) + (catalog.IGNORED_COLUMN,)
    specs: list[FieldSpec] = []
    lines: dict[str, int] = {}
    for child in children(el):
        name = canonical(child, valid, problems, "fields")
        if name is None:
            continue
        line = child.sourceline or 1
        if name == catalog.IGNORED_COLUMN:
            check_empty(child, problems)
            specs.append(FieldSpec(name, False, False, line))
            continue
        if name in lines and name not in action.repeatable:
            problems.add(
                child, Msg.FIELD_TWICE.format(name=name, parent="fields", first=lines[name])
            )
            continue
        lines.setdefault(name, line)
        written, mandatory = field_children(child, name, problems, allow_mandatory=True)
        codes: dict[str, str] | None = None
        as_written: dict[str, str] | None = None
        if name in action.code_lists:
            meanings = dict(action.code_lists[name].defaults)
            meanings.update(mapping_codes.get(name, {}))
            meanings.update(written)
            if written:  # a clash of <columnsMapping>'s own codes is reported there
                check_codes(child, name, meanings, problems)
            codes, as_written = {}, {}
            for meaning, code in meanings.items():
                if codes.setdefault(code.strip().casefold(), meaning) == meaning:
                    as_written.setdefault(code.strip(), meaning)
        if name in action.key_fields and mandatory is False:
            problems.add(child, Msg.KEY_FIELD_OPTIONAL.format(name=name, action=action.name))
            mandatory = None
        default = action.fields[name]
        specs.append(
            FieldSpec(
                name,
                default if mandatory is None else mandatory,
                mandatory is not None,
                line,
                codes,
                as_written,
            )
        )
    if not children(el):
        problems.add(el, Msg.EMPTY_FIELDS)
    else:
        _check_mandatory_listed(el, action, lines, problems)
    names = {s.name for s in specs}
    if action.name == catalog.LEARNER_ACTION and specs and not names & set(action.at_least_one):
        problems.add(el, Msg.LEARNER_KEY)
    if action.repeatable and specs and not names & set(action.repeatable):
        problems.add(el, Msg.ENTITY_LEVEL.format(field=action.repeatable[0]))
    return tuple(specs)


def _check_mandatory_listed(el, action: catalog.ActionSchema, listed, problems: Problems) -> None:
    """A field mandatory by default must be in <fields>: left out, a session would be created
    without its teacher, or every create rejected for want of a title, night after night."""
    for name, mandatory in action.fields.items():
        if not mandatory or name in listed or name in action.repeatable:
            continue  # a repeatable field (an entity level) has its own message
        is_key = name in action.key_fields
        template = Msg.KEY_FIELD_MISSING if is_key else Msg.MANDATORY_FIELD_MISSING
        problems.add(el, template.format(name=name, action=action.name))


def code_meanings(name: str) -> dict[str, str]:
    """meaning -> default code of a code-list field, whichever action has it."""
    for action in catalog.ACTIONS.values():
        if name in action.code_lists:
            return dict(action.code_lists[name].defaults)
    return {}


def field_children(el, name: str, problems: Problems, *, allow_mandatory: bool):
    """The codes written in a field's element (meaning -> code) and its <mandatory>, if any."""
    meanings = code_meanings(name)
    codes: dict[str, str] = {}
    mandatory = None
    check_container(el, problems)
    valid = tuple(meanings) + (("mandatory",) if allow_mandatory else ())
    seen: dict[str, int] = {}
    for child in children(el):
        if child.tag not in valid:
            if valid:
                problems.unknown(child, el.tag, valid)
            else:
                problems.add(child, Msg.NO_FIELD_ELEMENTS.format(field=el.tag, tag=child.tag))
            continue
        if not first_time(child, seen, problems, el.tag):
            continue
        if child.tag == "mandatory":
            mandatory = yes_no(child, problems)
            continue
        code = leaf(child, problems)
        if code:
            codes[child.tag] = code
        else:
            problems.add(child, Msg.EMPTY_CODE.format(tag=child.tag))
    return codes, mandatory


def check_codes(el, name: str, meanings: dict[str, str], problems: Problems) -> None:
    """Each meaning needs its own code, or a cell could not say what it means."""
    by_code: dict[str, str] = {}
    for meaning, code in meanings.items():
        key = code.strip().casefold()
        if key in by_code:
            problems.add(
                el, Msg.SAME_CODE.format(code=code, field=name, first=by_code[key], second=meaning)
            )
        else:
            by_code[key] = meaning


def mapping_codes(providers_el) -> dict[str, dict[str, str]]:
    """Code lists written in <columnsMapping>, read before the actions; validated with the
    provider."""
    codes: dict[str, dict[str, str]] = {}
    if providers_el is None:
        return codes
    for provider in children(providers_el):
        for mapping in children(provider):
            if mapping.tag != "columnsMapping":
                continue
            for column in children(mapping):
                name = next(
                    (n for n in _code_list_fields() if n.casefold() == column.tag.casefold()), None
                )
                if name is None:
                    continue
                meanings = code_meanings(name)
                for child in children(column):
                    if child.tag in meanings and text_of(child):
                        codes.setdefault(name, {})[child.tag] = text_of(child)
    return codes


def _code_list_fields() -> tuple[str, ...]:
    return tuple(n for action in catalog.ACTIONS.values() for n in action.code_lists)
