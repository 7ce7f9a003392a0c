"""The folders and file names a configuration writes: checked and resolved once, at load."""

from __future__ import annotations

from pathlib import Path

from session_import.config.messages import Msg, Problems
from session_import.paths import Unfollowable, follow_links, is_inside


def has_dot_dot(text: str) -> bool:
    # CrossKnowledge refuses the string itself, wherever it stands in the path.
    return ".." in text


def config_folder(el, text: str, base: Path, problems: Problems) -> Path | None:
    """A folder of the configuration, resolved once, symbolic links followed.

    An absolute path is the administrator's explicit choice and is kept. A relative
    path resolves against the configuration file's folder (never the cwd) and must stay
    inside it once every symbolic link is followed: whoever can add a link next to the
    configuration must not be able to send the import's reads, moves and logs elsewhere.
    """
    if has_dot_dot(text):
        problems.add(
            el,
            Msg.DOT_DOT.format(
                what="write a folder inside the configuration's folder, or an absolute path"
            ),
        )
        return None
    if any(ch in text for ch in "\t\n\r"):
        problems.add(el, Msg.PATH_CONTROL.format(tag=el.tag))
        return None
    if text.startswith("~"):
        problems.add(el, Msg.PATH_TILDE.format(tag=el.tag, text=text))
        return None
    written = Path(text)
    try:
        folder = follow_links(base / written)
    except Unfollowable as exc:
        problems.add(el, Msg.PATH_UNRESOLVABLE.format(tag=el.tag, text=text, reason=exc.reason))
        return None
    if not written.is_absolute() and not is_inside(folder, base):
        problems.add(el, Msg.PATH_OUTSIDE.format(tag=el.tag, text=text, target=folder, base=base))
        return None
    return folder
