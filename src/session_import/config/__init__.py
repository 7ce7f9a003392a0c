"""The import configuration: CrossKnowledge generic-import XML -> frozen dataclasses.

Every error carries the file and the element's line: ``FILE:LINE: what is wrong; what to do``.
"""

from session_import.config.describe import describe
from session_import.config.load import load_config
from session_import.config.messages import MAX_LISTED, ConfigError
from session_import.config.model import (
    ActionConfig,
    ColumnSpec,
    Config,
    ConsolidatorConfig,
    FieldSpec,
    ImportConfig,
    ProviderConfig,
    PublisherConfig,
    SafetyConfig,
    SnapshotConfig,
)
from session_import.config.xml import MAX_CONFIG_BYTES, MAX_CONFIG_NODES

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_NODES",
    "MAX_LISTED",
    "ActionConfig",
    "ColumnSpec",
    "Config",
    "ConfigError",
    "ConsolidatorConfig",
    "FieldSpec",
    "ImportConfig",
    "ProviderConfig",
    "PublisherConfig",
    "SafetyConfig",
    "SnapshotConfig",
    "describe",
    "load_config",
]
