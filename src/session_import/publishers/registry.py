"""Which client and settings each publisher name of a configuration stands for.

A new publisher adds its module here; the clients are imported only when an import
publishes, so a command that does not publish never loads the HTTP stack."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from session_import.publishers.contract import Client
from session_import.publishers.settings import PerculusSettings, ZohoSettings

SETTINGS: Mapping[str, type] = {"perculus": PerculusSettings, "zoho": ZohoSettings}


def _client_classes() -> dict[str, Callable[..., Client]]:
    from session_import.publishers import perculus, zoho  # noqa: PLC0415 - requests on demand

    return {"perculus": perculus.PerculusClient, "zoho": zoho.ZohoPeopleClient}


def make_clients(imp, environ: Mapping[str, str]) -> list[Client]:
    """The clients of an import's publishers, with their credentials from ``environ``."""
    if not imp.publishers:
        return []
    classes = _client_classes()
    return [
        classes[publisher.name](SETTINGS[publisher.name](**publisher.settings), environ)
        for publisher in imp.publishers
    ]
