"""Hostile bulk items for hypothesis: what an attacker with a valid key sends to the bulk doors.

Items that are nearly right (a real key, the right fields) carrying text no database can hold
(lone surrogates, NUL), deep nesting, long numbers, casing tricks and duplicate names; and
lines that are not items at all. Shared by the fuzz run and the isolation matrix.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import strategies as st

# Every code point, lone surrogates included (hypothesis leaves them out by default).
hostile_text = st.text(
    st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=12
) | st.sampled_from(["x\udbff", "\udc00y", "a\x00b", "555 666", " 555666 ", "\U0001f50c"])

_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | hostile_text
values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(hostile_text, children, max_size=3)
    ),
    max_leaves=8,
)

RAW_LINES = [
    b"[" * 200 + b"]" * 200,
    b'{"meteringPointId": ' + b"1" * 5000 + b"}",
    b'{"meteringPointId": "1", "x": NaN}',
    b"{",
    b'{"description": "\xff"}',
    b'"just a string"',
    b'{"a": 1}{"b": 2}',
    b'{"meteringPointId": "707057500053182051", "METERINGPOINTID": "x"}',
]


def plant_items(mpids: list[str], numbers: list[str]) -> st.SearchStrategy[bytes]:
    """One plant item as sent: JSON of a nearly valid plant, or a line that is no item."""
    plant = st.fixed_dictionaries(
        {
            "meteringPointId": st.sampled_from(mpids) | hostile_text,
            "consumptionCode": st.sampled_from([35, "35", "23", "x"]),
            "industrialClassification": st.sampled_from(["98.200", "55.102"]),
        },
        optional={
            "description": hostile_text,
            "customerId": st.sampled_from(numbers) | hostile_text,
            "connectionPoint": values,
            "Description": hostile_text,
            "extra": values,
        },
    )
    return plant.map(lambda body: json.dumps(body).encode()) | st.sampled_from(RAW_LINES)


def customer_items(numbers: list[str]) -> st.SearchStrategy[bytes]:
    customer = st.fixed_dictionaries(
        {"Number": st.sampled_from(numbers) | hostile_text},
        optional={"FirstName": hostile_text, "Email": hostile_text, "Address": values},
    )
    return customer.map(lambda body: json.dumps(body).encode()) | st.sampled_from(RAW_LINES)


def send_both_ways(
    client: Any, url: str, key: str, items: list[bytes]
) -> list[list[dict[str, Any]]]:
    """The items through the NDJSON door and the JSON-array door; each answer's lines, after
    checking what every answer must be: 200, one line per item, a summary last."""
    answers = []
    ndjson = b"".join(item + b"\n" for item in items)
    array = b"[" + b",".join(items) + b"]"
    for body, content_type in ((ndjson, "application/x-ndjson"), (array, "application/json")):
        response: httpx.Response = client.post(
            url, content=body, headers={"api-key": key, "content-type": content_type}
        )
        assert response.status_code == 200, response.text[:300]
        lines = [json.loads(line) for line in response.text.splitlines() if line.strip()]
        assert "summary" in lines[-1], lines[-1]
        if content_type == "application/x-ndjson":
            assert len(lines) - 1 == len(items), (len(lines), len(items))
        answers.append(lines)
    return answers


def read_everything(client: Any, key: str, keys: list[str], kind: str) -> None:
    """Everything a key stored reads back: each entity, its history, the whole feed."""
    headers = {"api-key": key}
    for value in keys:
        segment = quote(value, safe="")
        if kind == "plant":
            urls = [
                f"/api/plant/test/getDataForImport/{segment}",
                f"/api/plant/test/{segment}/history",
            ]
        else:
            base = f"/api/customer/environment/test/bynumber/{segment}"
            urls = [base, f"{base}/history"]
        for url in urls:
            assert client.get(url, headers=headers).status_code == 200, url
    assert client.get("/api/changes/test?limit=1000", headers=headers).status_code == 200
