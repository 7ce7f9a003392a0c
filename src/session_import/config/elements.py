"""How every part of the configuration reads its elements: children, values, yes/no, once only."""

from __future__ import annotations

from lxml import etree

from session_import.config.messages import Msg, Problems, shorten_name

_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


def children(el) -> list:
    """Element children; comments and processing instructions are not elements."""
    return [c for c in el if isinstance(c.tag, str)]


def text_of(el) -> str:
    return (el.text or "").strip()


def check_container(el, problems: Problems, attributes: tuple[str, ...] = ()) -> None:
    """An element that holds elements holds nothing else: no text (CrossKnowledge's '...'),
    no attribute."""
    stray = "".join([el.text or ""] + [c.tail or "" for c in el]).strip()
    if stray:
        problems.add(el, Msg.UNEXPECTED_TEXT.format(text=shorten_text(stray), tag=el.tag))
    check_attributes(el, problems, attributes)


def check_attributes(el, problems: Problems, allowed: tuple[str, ...] = ()) -> None:
    is_root = el.getparent() is None
    for name in el.attrib:
        if name in allowed or (is_root and name.startswith(_XSI)):
            continue
        shown = shorten_name(etree.QName(name).localname if name.startswith("{") else name)
        template = Msg.IMPORT_ATTRIBUTE if el.tag == "import" else Msg.UNKNOWN_ATTRIBUTE
        problems.add(el, template.format(name=shown, tag=shorten_name(el.tag)), rank=problems.NAME)


def check_empty(el, problems: Problems) -> None:
    """An element written for its name alone (<ignoredColumn/>, a search field)."""
    check_attributes(el, problems)
    if children(el) or text_of(el):
        problems.add(el, Msg.TAKES_NO_VALUE.format(tag=el.tag))


def shorten_text(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."


def leaf(el, problems: Problems) -> str:
    """The trimmed text of an element that holds a value."""
    for child in children(el):
        problems.add(child, Msg.HOLDS_A_VALUE.format(tag=el.tag, child=child.tag))
    check_attributes(el, problems)
    return text_of(el)


def yes_no(el, problems: Problems) -> bool:
    value = leaf(el, problems)
    if value.lower() not in ("yes", "no"):
        problems.add(el, Msg.YES_NO.format(tag=el.tag, value=value))
        return False
    return value.lower() == "yes"


def first_time(el, seen: dict, problems: Problems, parent: str) -> bool:
    """False (and an error) when an element that may appear once appears again."""
    if el.tag in seen:
        problems.add(el, Msg.TWICE.format(tag=el.tag, parent=parent, first=seen[el.tag]))
        return False
    seen[el.tag] = el.sourceline or 1
    return True


def canonical(el, valid, problems: Problems, where: str) -> str | None:
    """The field name that ``el`` stands for; a name in another case is read with a warning."""
    if el.tag in valid:
        return el.tag
    by_case = {v.casefold(): v for v in valid}
    name = by_case.get(el.tag.casefold())
    if name is not None:
        problems.warn(el, Msg.CASE.format(tag=el.tag, name=name))
        return name
    problems.unknown(el, where, valid, "field")
    return None
