"""The configuration file parsed by a hardened lxml: no network, DTD or entity, within bounds."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from lxml import etree

from session_import.config.messages import ConfigError, Msg, one_line, shorten_name

# Bounds on the work a configuration can cause, far above any real one: the largest a large
# organisation writes (every option, both publishers, 10,000 Zoho <training> mappings) is
# 1.4 MB and 50,000 elements and attributes; CrossKnowledge's own examples are under 2 kB.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_CONFIG_NODES = 200_000  # elements plus attributes
_PARSER_POSITION = re.compile(r",? line \d+, column \d+$")


def parse_document(path: Path, shown: str):
    """The root element, parsed without network, DTD or entity expansion, within bounds.

    A document with a DOCTYPE is refused before the parser sees it, so that no entity
    (billion laughs, a SYSTEM entity naming a local file) can ever be expanded. A file over
    ``MAX_CONFIG_BYTES`` is refused before it is parsed, and a tree of more than
    ``MAX_CONFIG_NODES`` elements and attributes before it is validated: parsing the worst
    document under the size limit takes about a second, and the validation that follows
    never costs more than that number of nodes (benchmarks/hostile_config.py).
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        reason = one_line(str(exc.strerror or exc))
        raise ConfigError([f"{shown}:1: " + Msg.CANNOT_READ.format(reason=reason)]) from exc
    if len(data) > MAX_CONFIG_BYTES:
        size = _file_size(path, len(data))
        limit = MAX_CONFIG_BYTES // (1024 * 1024)
        raise ConfigError([f"{shown}: " + Msg.TOO_BIG.format(size=size, limit=limit)])
    line = _doctype_line(data)
    if line is not None:
        raise ConfigError([f"{shown}:{line}: {Msg.DOCTYPE}"])
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ConfigError([f"{shown}:{exc.lineno or 1}: " + _syntax_message(exc)]) from exc
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise ConfigError([f"{shown}:1: {Msg.DOCTYPE}"])  # in an encoding the byte scan cannot read
    if root.xpath("count(//*) + count(//@*)") > MAX_CONFIG_NODES:
        raise ConfigError(
            [
                f"{shown}:{_line_past_node_limit(root)}: "
                + Msg.TOO_MANY_NODES.format(limit=f"{MAX_CONFIG_NODES:,}")
            ]
        )
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = etree.QName(el).localname  # a default namespace on the root changes nothing
    return root


def _file_size(path: Path, read: int) -> str:
    try:
        return f"{max(path.stat().st_size, read):,} bytes"
    except OSError:
        return f"over {read - 1:,} bytes"


def _line_past_node_limit(root) -> int:
    count = 0
    for el in root.iter():
        count += 1 + len(el.attrib)
        if count > MAX_CONFIG_NODES:
            return el.sourceline or 1
    return 1


# libxml2's own messages, rewritten: its advice (XML_PARSE_HUGE, a parser option) is not the
# administrator's to follow, and a few messages end with or hold a line break.
_LIBXML2_ADVICE = re.compile(r",?\s*(?:try|use) XML_PARSE_HUGE(?: option)?")
_TAG_MISMATCH = re.compile(r"Opening and ending tag mismatch: (\S+) line (\d+) and (\S+)")
_UNCLOSED = re.compile(r"Premature end of data in tag (\S+) line (\d+)")
_XML_ERR_DOCUMENT_EMPTY = 4
_XML_ERR_DOCUMENT_END = 5
_XML_ERR_TAG_NAME_MISMATCH = 76
_XML_ERR_TAG_NOT_FINISHED = 77
_XML_ERR_NAME_TOO_LONG = 110
_XML_ERR_RESOURCE_LIMIT = 114


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    """What follows ``FILE:LINE: `` for a document libxml2 cannot parse."""
    raw = _PARSER_POSITION.sub("", (exc.msg or str(exc)).strip())
    reason = _LIBXML2_ADVICE.sub("", raw.split("\n", 1)[0]).strip().rstrip(",:")
    if exc.code == _XML_ERR_DOCUMENT_EMPTY and reason == "Document is empty":
        return Msg.XML_EMPTY
    if exc.code == _XML_ERR_DOCUMENT_END:
        return Msg.XML_EXTRA_CONTENT
    if exc.code == _XML_ERR_TAG_NAME_MISMATCH and (match := _TAG_MISMATCH.match(reason)):
        opened, line, closed = match.groups()
        return Msg.XML_TAG_MISMATCH.format(
            opened=shorten_name(opened), line=line, closed=shorten_name(closed)
        )
    if exc.code == _XML_ERR_TAG_NOT_FINISHED and (match := _UNCLOSED.match(reason)):
        tag, line = match.groups()
        return Msg.XML_UNCLOSED.format(tag=shorten_name(tag), line=line)
    if exc.code == _XML_ERR_RESOURCE_LIMIT and reason.startswith("Excessive depth"):
        return Msg.XML_TOO_DEEP
    if exc.code == _XML_ERR_NAME_TOO_LONG:
        return Msg.XML_NAME_TOO_LONG
    return Msg.NOT_WELL_FORMED.format(reason=one_line(reason or "the parser gives no reason"))


def _doctype_line(data: bytes) -> int | None:
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            data = data.decode(encoding, errors="replace").encode("utf-8")
            break
    at = data.lower().find(b"<!doctype")
    return None if at < 0 else data.count(b"\n", 0, at) + 1
