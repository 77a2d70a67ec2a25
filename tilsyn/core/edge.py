"""Request bodies as a route's signature declares them: read tolerantly, documented from a model.

A route writes ``body: Annotated[JsonObject, tolerant_body(PlantIn)]``: the body is read by the
tolerant reader of SPEC §3 (core/http.py ``json_body``: size and time limits, strict JSON), and
the model names what the OpenAPI document says the operation takes. core/openapi.py finds these
dependencies on every route, so no route spells its request schema by hand.

No ``from __future__ import annotations`` here: FastAPI reads the annotations of a dependency's
``__call__`` as objects, and an instance has no module globals to resolve strings in.
"""

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel

from tilsyn.contract.bodies import read_model
from tilsyn.contract.errors import InvalidBody
from tilsyn.contract.problems import Issues
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.http import json_body

# A JSON object as the tolerant reader returns it: names as sent, checked by the domain parse.
JsonObject = dict[str, Any]


def schema_ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


@dataclass(frozen=True)
class DocumentedBody:
    """A dependency that documents the operation's request body. As it is, it reads nothing:
    a route that reads the body its own way (a streamed or optional one) lists it in
    ``dependencies``; :class:`TolerantBody` reads it too."""

    model: type[BaseModel]
    required: bool = True

    async def __call__(self) -> None:
        """Nothing: the route reads the body itself."""

    def request_body(self) -> dict[str, Any]:
        """The operation's ``requestBody`` in the OpenAPI document."""
        return {
            "required": self.required,
            "content": {"application/json": {"schema": schema_ref(self.model)}},
        }

    def components(self) -> tuple[type[BaseModel], ...]:
        """The models the document's components must hold for this body."""
        return (self.model,)


@dataclass(frozen=True)
class TolerantBody(DocumentedBody):
    """The body as a JSON object, read by SPEC §3's tolerant reader (``json_body``)."""

    async def __call__(self, request: Request) -> JsonObject:  # type: ignore[override]
        return await json_body(request)


def tolerant_body(model: type[BaseModel]) -> Any:
    """``Annotated[JsonObject, tolerant_body(PlantIn)]``: the body, documented as ``PlantIn``."""
    return Depends(TolerantBody(model))


@dataclass(frozen=True)
class ModelBody(DocumentedBody):
    """The body read tolerantly and then into its model (names in any case, SPEC §3): a body
    the model cannot hold is an InvalidBody (422) with ``message`` and the fields at fault."""

    message: str = "The body was not read; see errors."

    async def __call__(self, request: Request) -> Any:  # type: ignore[override]
        issues = Issues()
        parsed = read_model(self.model, await json_body(request), issues)
        if parsed is None or issues.errors:
            raise InvalidBody(self.message, errors=issues.errors)
        return parsed


def model_body(model: type[BaseModel], message: str) -> Any:
    """``Annotated[PlantLookupIn, model_body(PlantLookupIn, "...")]``: the body as the model."""
    return Depends(ModelBody(model, message=message))


async def oslo_today() -> date:
    """The request's day in Oslo: FastAPI caches it per request, so a body's parse and its
    write see the same day."""
    return today_in_oslo()


Today = Annotated[date, Depends(oslo_today)]


def documented(body: DocumentedBody) -> Any:
    """For a route's ``dependencies``: documents a body the route reads its own way."""
    return Depends(body)


def documented_bodies(dependant: Dependant) -> list[DocumentedBody]:
    """Every body documentation among a route's dependencies (normally one)."""
    found: list[DocumentedBody] = []
    for sub in dependant.dependencies:
        if isinstance(sub.call, DocumentedBody):
            found.append(sub.call)
        found.extend(documented_bodies(sub))
    return found
