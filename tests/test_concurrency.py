"""32 clients against `tilsyn serve --workers 4`: shared new elements, one customer, one plant.

Every request must answer 200, nothing may be duplicated, the contested plant must end in
the state of its last effective write, and history must hold exactly the effective changes
(matched through the request ids the clients send).
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter, defaultdict
from typing import Any

import httpx
from sqlalchemy import func, select

from tests.conftest import SECRET, make_tenant
from tests.servers import running_server
from tilsyn.core.db import Database
from tilsyn.core.models import Change, Customer, GridElement, Plant
from tilsyn.core.personal import reveal

CLIENTS = 32
ROUNDS = 6
CUSTOMER = "15108695088"
CONTESTED = "707057500053182051"


def gsrn(serial: int) -> str:
    body = f"7070575000{serial:07d}"
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def plant_body(mpid: str, variant: int) -> dict[str, Any]:
    return {
        "meteringPointId": mpid,
        "customerId": CUSTOMER,
        "consumptionCode": 35 if variant == 0 else 36,
        "industrialClassification": "68.209",
        "description": f"variant {variant}",
        "connectionPoint": {
            "name": "CP-SHARED",
            "transformer": {"name": "T-SHARED", "netStation": {"name": "NS-SHARED"}},
        },
    }


CUSTOMER_BODY = {"Number": CUSTOMER, "FirstName": "Kari", "LastName": "Nordmann"}


def test_parallel_clients_on_several_workers(database: Database, database_url: str) -> None:
    tenant = make_tenant(database, "nett", "test")
    results: list[tuple[str, str, str, int]] = []  # (entity, request id, result, variant)
    failures: list[str] = []
    lock = threading.Lock()

    with running_server(database_url, secret=SECRET, workers=4) as base:

        def client_run(index: int) -> None:
            with httpx.Client(base_url=base, headers=tenant.headers, timeout=120) as client:
                for round_no in range(ROUNDS):
                    variant = (index + round_no) % 2
                    jobs = [
                        ("plant", CONTESTED, plant_body(CONTESTED, variant), variant),
                        (
                            "plant",
                            gsrn(index * ROUNDS + round_no),
                            plant_body(gsrn(index * ROUNDS + round_no), 0),
                            0,
                        ),
                        ("customer", CUSTOMER, CUSTOMER_BODY, 0),
                    ]
                    for kind, key, body, job_variant in jobs:
                        rid = uuid.uuid4().hex
                        response = client.post(
                            f"/api/import/test/{kind}", json=body, headers={"X-Request-ID": rid}
                        )
                        with lock:
                            if response.status_code != 200:
                                failures.append(
                                    f"{kind} {response.status_code} {response.text[:200]}"
                                )
                            else:
                                results.append(
                                    (f"{kind}:{key}", rid, response.json()["result"], job_variant)
                                )

        threads = [threading.Thread(target=client_run, args=(i,)) for i in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        final = httpx.get(
            f"{base}/api/plant/test/getDataForImport/{CONTESTED}", headers=tenant.headers
        ).json()

    assert failures == []
    assert len(results) == CLIENTS * ROUNDS * 3

    with database.read() as session:
        elements = Counter(
            (kind, name)
            for kind, name in session.execute(select(GridElement.kind, GridElement.name))
        )
        assert elements == {
            ("netStation", "NS-SHARED"): 1,
            ("transformer", "T-SHARED"): 1,
            ("connectionPoint", "CP-SHARED"): 1,
        }
        assert session.scalar(select(func.count()).select_from(Customer)) == 1
        assert session.scalar(select(func.count()).select_from(Plant)) == 1 + CLIENTS * ROUNDS
        rows = session.execute(
            select(Change.entity_type, Change.entity_key, Change.request_id).order_by(Change.id)
        ).all()
        # Customer numbers are stored as keyed hashes: read them as tilsyn does.
        history = reveal(session, tenant.instance_id, [list(row) for row in rows])

    recorded: dict[str, set[str]] = defaultdict(set)
    last_request: dict[str, str] = {}
    for entity_type, entity_key, request_id in history:
        if entity_type in {"plant", "customer"}:
            recorded[f"{entity_type}:{entity_key}"].add(request_id)
            last_request[f"{entity_type}:{entity_key}"] = request_id
    effective: dict[str, set[str]] = defaultdict(set)
    variant_of: dict[str, int] = {}
    for entity, rid, result, variant in results:
        variant_of[rid] = variant
        if result != "unchanged":
            effective[entity].add(rid)
    assert recorded == effective, "history holds exactly the effective changes"
    assert len(effective[f"customer:{CUSTOMER}"]) == 1

    winner = variant_of[last_request[f"plant:{CONTESTED}"]]
    assert final["description"] == f"variant {winner}"
    assert final["consumptionCode"] == (35 if winner == 0 else 36)
    assert final["customerId"] == CUSTOMER
    assert final["connectionPoint"]["transformer"]["netStation"]["name"] == "NS-SHARED"
