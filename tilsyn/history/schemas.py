"""Wire shapes of history pages and the change feed: the models their routes answer with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyRefOut(BaseModel):
    id: int | None = Field(description="The key's id, as `tilsyn key list` shows it")
    label: str | None = Field(description="The key's label when the change was made")


class FieldChangeOut(BaseModel):
    field: str = Field(description="JSON path of the field, e.g. `address.postalCode`")
    before: Any = Field(description="The value before the change; null when it had none")
    after: Any = Field(description="The value after the change; null when cleared")


class ChangeOut(BaseModel):
    id: int = Field(description="Position of the change; ids grow in commit order")
    at: str = Field(description="When it was committed, UTC (ISO 8601)")
    entityType: str = Field(
        description="customer, plant, netStation, transformer, connectionPoint, rules, "
        "settings, history, inspection, finding or plan"
    )
    entityKey: str = Field(description="Number, meteringPointId, element name; `[erased]`")
    operation: str = Field(
        description="create, update, customer (periods), builtby, extension, move, delete, "
        "erase, prune, status (a finding's step), build (a plan), ..."
    )
    apiKey: ApiKeyRefOut | None = Field(
        description="The key that sent it (never the key itself); null: the tilsyn command"
    )
    requestId: str | None = Field(description="The request's X-Request-ID")
    fields: list[FieldChangeOut]


class HistoryOut(BaseModel):
    changes: list[ChangeOut] = Field(description="Newest first")
    next: int | None = Field(description="`before` of the next (older) page; null on the last")


class CustomerPeriodOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    customerId: str | None = Field(description="null: no customer in this period")
    from_: str = Field(alias="from", description="First day, YYYY-MM-DD")
    to: str | None = Field(description="Last day, YYYY-MM-DD; null while it lasts")


class PlantHistoryOut(HistoryOut):
    customerPeriods: list[CustomerPeriodOut] = Field(
        description="The plant's customer periods as now stored, oldest first"
    )


class ChangeFeedOut(BaseModel):
    changes: list[ChangeOut] = Field(description="In commit order")
    next: str = Field(description="`after` of the next request; the same when nothing is new")
