"""Where the configuration's paths lead once symbolic links are followed.

``load_config`` resolves every folder it names once (``follow_links``), and a relative one
must stay inside the configuration's folder (``is_inside``). A run then refuses what a link
made since would send elsewhere: a data file the provider lists (``leads_outside``), a
consolidator's folder (``open_folder``, one component at a time, no link followed).
"""

from __future__ import annotations

import os
import stat
from enum import StrEnum
from pathlib import Path

_PATH_ONLY = getattr(os, "O_PATH", os.O_RDONLY)


class RunPathMsg(StrEnum):
    """What a run says when a path of the configuration now leads elsewhere."""

    # a data file listed by the provider's glob (a DataFileError: FILE:0: ...)
    FILE_OUTSIDE = (
        "is a symbolic link to {target}, outside the provider's folder {folder}; it was not read. "
        "Put the file itself in {folder}."
    )
    # a consolidator's folder (location, backupFolder), checked before and after it is created
    FOLDER_MOVED = (
        "The folder {folder} now leads to {target} (a symbolic link made after the configuration "
        "was read); nothing was written there."
    )


class Unfollowable(Exception):
    """A path whose symbolic links cannot be followed (a loop, a component unreadable)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def follow_links(path: Path) -> Path:
    """``path`` absolute, every symbolic link followed; Unfollowable when that fails."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # RuntimeError: a symbolic link loop
        raise Unfollowable(getattr(exc, "strerror", None) or str(exc)) from exc


def is_inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def leads_outside(path: Path, folder: Path) -> Path | None:
    """Where ``path`` really leads when that is not inside ``folder``, else None.

    ``folder`` is a folder of a loaded configuration, already resolved by ``load_config``;
    it is deliberately not resolved again, so that a symbolic link made after the
    configuration was read (between ``check`` and a run, or during a long run) is seen.
    A path that cannot be followed (a link loop) counts as outside, and is returned as
    written.
    """
    try:
        real = follow_links(path)
    except Unfollowable:
        return Path(path)
    return None if is_inside(real, Path(folder)) else real


class FolderUnavailable(Exception):
    """A component of a folder is not a folder, or cannot be opened or created."""


class FolderMoved(FolderUnavailable):
    """A component of a folder is a symbolic link made after the configuration was read."""

    def __init__(self, folder: Path, target: Path):
        super().__init__(RunPathMsg.FOLDER_MOVED.format(folder=folder, target=target))
        self.target = target


def open_folder(folder: Path) -> int:
    """A descriptor of ``folder`` (created when missing), reached from the root one component
    at a time without following a link.

    The configuration resolved every link of ``folder`` when it was read, so a component
    that is a link now was made since (FolderMoved): it must not send the import's logs and
    backups elsewhere. Every write then goes relative to this descriptor, so the folder
    checked and the folder written are the same object, whatever is renamed meanwhile.
    """
    parts = folder.parts
    start = parts[0] if folder.is_absolute() else "."
    fd = os.open(start, _PATH_ONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        steps = parts[1:] if folder.is_absolute() else parts
        for index, part in enumerate(steps):
            mode = os.O_RDONLY if index == len(steps) - 1 else _PATH_ONLY  # the last one is fsynced
            child = _open_component(
                fd, part, mode | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, folder
            )
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_component(parent: int, part: str, flags: int, folder: Path) -> int:
    for _ in range(3):  # again after creating it, or when it changed between two looks
        try:
            return os.open(part, flags, dir_fd=parent)
        except FileNotFoundError:
            try:
                os.mkdir(part, 0o777, dir_fd=parent)
            except FileExistsError:
                pass  # made meanwhile: open what is there
            except OSError as exc:
                raise FolderUnavailable(folder) from exc
        except NotADirectoryError as exc:
            try:
                kind = stat.S_IFMT(os.lstat(part, dir_fd=parent).st_mode)
                target = os.readlink(part, dir_fd=parent) if kind == stat.S_IFLNK else None
            except OSError:
                continue  # gone meanwhile: look again
            if target is not None:
                where = Path(os.path.normpath(_path_of(parent) / target))
                raise FolderMoved(folder, where) from exc
            if kind != stat.S_IFDIR:
                raise FolderUnavailable(folder) from exc
        except OSError as exc:
            raise FolderUnavailable(folder) from exc
    raise FolderUnavailable(folder)


def _path_of(fd: int) -> Path:
    """Where a folder descriptor is now (for messages only)."""
    return Path(os.readlink(f"/proc/self/fd/{fd}"))
