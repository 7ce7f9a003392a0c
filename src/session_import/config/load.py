"""``load_config``: the document's root, its imports and their parts, or a fragment."""

from __future__ import annotations

from pathlib import Path

from session_import import catalog
from session_import.config.actions import mapping_codes, read_actions, read_fields, read_options
from session_import.config.consolidators import read_consolidators
from session_import.config.elements import check_container, children, first_time, leaf
from session_import.config.messages import ConfigError, Msg, Problems, close_match, shorten_name
from session_import.config.model import (
    ActionConfig,
    Config,
    ConsolidatorConfig,
    ImportConfig,
    SafetyConfig,
)
from session_import.config.provider import read_columns, read_provider, read_providers
from session_import.config.publishers import read_publishers
from session_import.config.xml import parse_document
from session_import.limits import ON_LIMIT, parse_limit

_ROOTS = ("import-config", "actions")

# Roots of CrossKnowledge's published snippets; `check` validates the supported ones in place.
_FRAGMENT_ROOTS = (
    "providers",
    "fileSystemSourceProvider",
    "consolidators",
    "options",
    "fields",
    "columnsMapping",
    "preProcess",
    "postProcess",
    "parameters",
)

_FRAGMENT_SAMPLE = 100  # names of a fragment that say which action it is written for
_IMPORT_PARTS = ("providers", "actions", "consolidators", "safety")


def load_config(path: str | Path, *, fragments: bool = False) -> Config:
    """Read and validate an import configuration; ConfigError lists every problem found.

    ``fragments`` (the ``check`` command) also accepts one of CrossKnowledge's published
    snippets, such as a lone ``<consolidators>``, validated where it would stand.
    """
    shown = str(path)
    path = Path(path)
    root = parse_document(path, shown)
    problems = Problems(shown)
    base = path.resolve().parent
    stem = path.stem
    tag = root.tag
    if tag == "actions":
        actions = read_actions(root, problems, {})
        problems.raise_if_any()
        bare = ImportConfig(stem, None, actions, line=root.sourceline or 1)
        return Config(path, "bare", (bare,), problems.warnings)
    if tag == "import-config":
        imports = _imports(root, base, stem, problems)
        problems.raise_if_any()
        return Config(path, "full", imports, problems.warnings)
    if tag in _FRAGMENT_ROOTS:
        if not fragments:
            problems.add(root, Msg.FRAGMENT_ROOT.format(tag=tag))
            problems.raise_if_any()
        _fragment(root, base, problems)
        problems.raise_if_any()
        return Config(path, "fragment", (), problems.warnings, fragment=tag)
    if tag == "import":
        problems.add(root, Msg.IMPORT_ROOT)
    elif tag in catalog.ACTIONS:
        problems.add(root, Msg.ACTION_ROOT.format(tag=tag))
    elif tag in catalog.UNSUPPORTED_CK_ACTIONS or tag in catalog.UNSUPPORTED_CK_CONSOLIDATORS:
        problems.unknown(root, "the document", _ROOTS)
    elif close := close_match(tag, _ROOTS):
        problems.add(root, Msg.UNKNOWN_ROOT_CLOSE.format(tag=shorten_name(tag), close=close))
    else:
        problems.add(root, Msg.UNKNOWN_ROOT.format(tag=shorten_name(tag)))
    raise ConfigError(problems.errors)


def _fragment(root, base: Path, problems: Problems) -> None:
    tag = root.tag
    if tag in catalog.UNSUPPORTED_CK_PROCESSES or tag == "parameters":
        problems.unknown(root, "the document", _ROOTS)
    elif tag == "providers":
        read_providers(root, base, problems, ())
    elif tag == "fileSystemSourceProvider":
        read_provider(root, base, problems, ())
    elif tag == "consolidators":
        read_consolidators(root, base, problems)
    elif tag == "columnsMapping":
        read_columns(root, problems, ())
    else:  # options or fields: valid when valid for one of the supported actions
        trials = []
        for action in catalog.ACTIONS.values():
            trial = Problems(problems.shown)
            if tag == "options":
                read_options(root, action, trial, fields=None, action_el=None)
            else:
                read_fields(root, action, trial, {})
            if not trial.error_count:
                problems.absorb(trial)
                return
            trials.append((action, trial))
        # Report against the action the fragment looks written for: the one that knows (or
        # nearly knows: a misspelt name) most of its first names.
        named = [child.tag.casefold() for child in children(root)[:_FRAGMENT_SAMPLE]]

        def known(action: catalog.ActionSchema) -> int:
            names = [n.casefold() for n in (action.options if tag == "options" else action.fields)]
            return sum(n in names or close_match(n, names) is not None for n in named)

        _, best = min(trials, key=lambda t: (-known(t[0]), t[1].error_count))
        problems.absorb(best)


def _imports(root, base: Path, stem: str, problems: Problems) -> tuple[ImportConfig, ...]:
    check_container(root, problems)
    imports = []
    ids: dict[str, int] = {}
    for el in children(root):
        if el.tag != "import":
            problems.unknown(el, "import-config", ("import",))
            continue
        check_container(el, problems, ("id",))
        import_id = el.get("id", "").strip() or stem
        if import_id in ids:
            problems.add(el, Msg.DUPLICATE_ID.format(id=import_id, first=ids[import_id]))
        else:
            ids[import_id] = el.sourceline or 1
        imports.append(_import(el, import_id, base, problems))
    if not children(root):
        problems.add(root, Msg.NO_IMPORT)
    return tuple(imports)


def _import(el, import_id: str, base: Path, problems: Problems) -> ImportConfig:
    parts: dict[str, object] = {}
    seen: dict[str, int] = {}
    for child in children(el):
        if child.tag in _IMPORT_PARTS:
            if first_time(child, seen, problems, "import"):
                parts[child.tag] = child
        elif child.tag == "publishers":
            if first_time(child, seen, problems, "import"):
                parts["publishers"] = child
        else:
            problems.unknown(child, "import", _IMPORT_PARTS)
    actions: tuple[ActionConfig, ...] = ()
    if "actions" in parts:
        actions = read_actions(parts["actions"], problems, mapping_codes(parts.get("providers")))
    else:
        problems.add(el, Msg.NO_ACTIONS)
    provider = None
    if "providers" in parts:
        provider = read_providers(parts["providers"], base, problems, actions)
    consolidators: tuple[ConsolidatorConfig, ...] = ()
    if "consolidators" in parts:
        consolidators = read_consolidators(parts["consolidators"], base, problems)
    safety = _safety(parts["safety"], problems) if "safety" in parts else SafetyConfig()
    publishers = read_publishers(parts["publishers"], problems) if "publishers" in parts else ()
    return ImportConfig(
        import_id, provider, actions, consolidators, safety, el.sourceline or 1, publishers
    )


def _safety(el, problems: Problems) -> SafetyConfig:
    check_container(el, problems)
    values: dict[str, str] = {}
    seen: dict[str, int] = {}
    for child in children(el):
        if child.tag not in ("maxRejects", "maxCancel", "onLimit"):
            problems.unknown(child, "safety", ("maxRejects", "maxCancel", "onLimit"), "option")
            continue
        if not first_time(child, seen, problems, "safety"):
            continue
        text = leaf(child, problems)
        if child.tag == "onLimit":
            if text.strip().lower() in ON_LIMIT:
                values["on_limit"] = text.strip().lower()
            else:
                problems.add(child, Msg.ON_LIMIT.format(value=text))
            continue
        try:
            limit = parse_limit(text)
        except ValueError:
            reason = "is empty" if not text else f"is {text!r}"
            problems.add(child, Msg.LIMIT.format(tag=child.tag, reason=reason))
            continue
        values["max_rejects" if child.tag == "maxRejects" else "max_cancel"] = limit.text
    return SafetyConfig(**values)
