"""Publishing to hosted LMSs: the outbox's delivery, and one client per service.

The clients (perculus, zoho) load requests; they are imported on demand by the registry,
not here."""

from session_import.publishers.contract import (
    CallPacer,
    ChangeKind,
    Client,
    CredentialsError,
    Delivery,
    DeliveryOutcome,
    OutcomeState,
    RemoteChange,
    SessionData,
)
from session_import.publishers.outbox import PublishResult, RunDelivery, deliver
from session_import.publishers.payload import session_payload
from session_import.publishers.registry import make_clients
from session_import.publishers.settings import (
    CREDENTIALS,
    CredentialVariables,
    PerculusSettings,
    ZohoSettings,
    credential_problems,
)

__all__ = [
    "CREDENTIALS",
    "CallPacer",
    "ChangeKind",
    "Client",
    "CredentialVariables",
    "CredentialsError",
    "Delivery",
    "DeliveryOutcome",
    "OutcomeState",
    "PerculusSettings",
    "PublishResult",
    "RemoteChange",
    "RunDelivery",
    "SessionData",
    "ZohoSettings",
    "credential_problems",
    "deliver",
    "make_clients",
    "session_payload",
]
