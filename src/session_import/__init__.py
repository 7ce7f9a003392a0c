"""session-import: bulk import of training sessions, as a CrossKnowledge generic-import
configuration describes them, into a store (embedded SQLite by default).

The library API, usable without the command line::

    from session_import import Store, load_config, run_import

    config = load_config("sessions.xml")
    with Store("session-import.db", create=False) as store:
        report = run_import(config, store, [Path("night.csv")])
    print(report.exit_code)

Every fatal problem is a ``SessionImportError`` carrying its ``exit_code``; row problems
are values in the returned ``Report``.
"""

__version__ = "0.1.0"

from session_import.approvals import ApprovalRefused, approve_held, discard_held
from session_import.config import Config, ConfigError, load_config
from session_import.errors import ExitCode, SessionImportError
from session_import.history import RevertRefused, RevertResult, revert_run
from session_import.pipeline import RunOptions, publish_pending, run_import
from session_import.report import Report
from session_import.store import Store, StoreInterface, init_store

__all__ = [
    "ApprovalRefused",
    "Config",
    "ConfigError",
    "ExitCode",
    "Report",
    "RevertRefused",
    "RevertResult",
    "RunOptions",
    "SessionImportError",
    "Store",
    "StoreInterface",
    "__version__",
    "approve_held",
    "discard_held",
    "init_store",
    "load_config",
    "publish_pending",
    "revert_run",
    "run_import",
]
