"""What runs once at the end of each data file, in CrossKnowledge's order."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from session_import.config import ImportConfig
from session_import.report import ConsolidatorFailure, FileReport


def run_consolidators(imp: ImportConfig, path: Path, reports: list[FileReport], when: datetime,
                      environ: Mapping[str, str]) -> list[ConsolidatorFailure]:
    return []
