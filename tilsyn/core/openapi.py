"""The OpenAPI document as tilsyn answers, not as FastAPI guesses.

Generated clients and "Try it out" take the schema at its word, so it must describe the
wire exactly: every error as an RFC 9457 problem under ``application/problem+json`` with its
schema, no ``422`` (tilsyn answers 400 for a request its parameters reject), the ``api-key``
header as a security scheme (declared by the key dependency, instances/http.py), and each
operation's request body as its route's signature declares it (core/edge.py), with its model
among the components.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from tilsyn.core.edge import documented_bodies
from tilsyn.core.http import PROBLEM_JSON, PROBLEM_REF, Problem, problem

# FastAPI's own models for the 422 that tilsyn never sends.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    every: list[type[BaseModel]] = [*_declare_bodies(app, schema), Problem]
    for model in dict.fromkeys(every):
        _add_model(components, model)
    for operation in _operations(schema):
        _declare_problems(operation)
    for name in _FASTAPI_VALIDATION:
        components.pop(name, None)
    return schema


def _declare_bodies(app: FastAPI, schema: dict[str, Any]) -> list[type[BaseModel]]:
    """Each operation's ``requestBody`` from its route's body dependency; the models it names."""
    models: list[type[BaseModel]] = []
    paths: dict[str, Any] = schema.get("paths", {})
    # Included routers are walked as FastAPI walks them for the document: with their prefixes.
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        path_item: dict[str, Any] = paths[str(route.path_format)]
        for body in documented_bodies(route.dependant):
            for method in route.methods or ():
                path_item[method.lower()]["requestBody"] = body.request_body()
            models.extend(body.components())
    return models


def _add_model(components: dict[str, Any], model: type[BaseModel]) -> None:
    model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in model_schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components[model.__name__] = model_schema


def _operations(schema: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for path_item in schema.get("paths", {}).values():
        for method, operation in path_item.items():
            if method in _METHODS:
                yield operation


def _declare_problems(operation: dict[str, Any]) -> None:
    """Every error status answers the Problem schema as problem+json, and only that.

    Applied to every operation, so a route added later that declares an error with a plain
    model, or none, is described the same way.
    """
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if responses.pop("422", None) is not None and "400" not in responses:
        responses["400"] = problem("A path or query parameter is not valid")
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            response["content"] = {PROBLEM_JSON: {"schema": dict(PROBLEM_REF)}}
