"""What a caller of the store catches, whatever the backend."""

from __future__ import annotations

from session_import.errors import ExitCode, SessionImportError


class StoreUnavailable(SessionImportError):
    """The store cannot be opened, is not ours, or is busy (exit 5)."""

    exit_code = ExitCode.STORE_UNAVAILABLE


class StoreError(SessionImportError):
    """A statement failed on a store that was open (a full disk, an I/O error, a damaged
    page): exit 5, with the backend's own words."""

    exit_code = ExitCode.STORE_UNAVAILABLE


class BackupRefused(SessionImportError):
    """The backup's destination is the store itself or one of its files (exit 2)."""

    exit_code = ExitCode.USAGE


class BackupFailed(SessionImportError):
    """The backup could not be written (exit 3)."""

    exit_code = ExitCode.FILE_FAILED
