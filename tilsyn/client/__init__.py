"""Python SDK and sync engine for tilsyn and any server that speaks the vendor's import API.

See docs/integrators.md; in short::

    with TilsynClient("https://tilsyn.example.no", api_key, environment="prod") as client:
        outcome = client.upsert_plant({"meteringPointId": "707057500026392739", ...})
"""

from __future__ import annotations

from tilsyn.client.sdk import (
    ApiError,
    BulkItem,
    BulkResult,
    Capabilities,
    ChangePage,
    ClientOptions,
    KeyPage,
    Problem,
    ProblemError,
    RetryPolicy,
    TilsynClient,
    TransportFailure,
    UpsertResult,
)
from tilsyn.contract.problems import Issue

__all__ = [
    "ApiError",
    "BulkItem",
    "BulkResult",
    "Capabilities",
    "ChangePage",
    "ClientOptions",
    "Issue",
    "KeyPage",
    "Problem",
    "ProblemError",
    "RetryPolicy",
    "TilsynClient",
    "TransportFailure",
    "UpsertResult",
]
