"""Audit-rule derivation: plant GETs and upserts per second with 0 and with 10,000 rules.

Measured through the service functions in one process, each call in its own transaction as a
request would be, without HTTP (so that derivation's share is as large as it can get). One
database, instances holding the same plants: one without rules, one with 10,000 rules (no
ties). The plants' consumption codes and næringskoder are drawn from the rules' own codes and
prefixes, so look-ups hit at every level. Rounds alternate between the instances so that drift
hits both alike; each figure is the median of the rounds. A third row skips derivation
altogether (not even the rules-version read), for the fixed cost of the check.

    python bench/rules.py
    python bench/rules.py --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from collections.abc import Mapping
from typing import Any

from common import fresh_database
from sqlalchemy.engine import make_url

import tilsyn.plants.service as plants
import tilsyn.plants.views as plant_views
from tilsyn.contract.plants.parse import parse_valid_plant
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.core.migrate import upgrade_database
from tilsyn.demo_data import generate_plants
from tilsyn.instances.service import create_instance
from tilsyn.rules import service as rules
from tilsyn.validation.codes import CONSUMPTION_CODES

CODES = sorted(CONSUMPTION_CODES)


def random_prefix(rng: random.Random) -> str:
    """A næringskode prefix at one of SN2007's levels: 55, 55.1, 55.10 or 55.102."""
    division = f"{rng.randint(1, 99):02d}"
    digits = f"{rng.randint(0, 999):03d}"
    return division if rng.random() < 0.1 else f"{division}.{digits[: rng.randint(1, 3)]}"


def make_rules(count: int, rng: random.Random) -> list[rules.Rule]:
    """``count`` rules with distinct (code, prefix): every code alone, a catch-all, the rest
    prefixes with or without a code. Each gives all four values, so none can tie."""
    keys: list[tuple[str | None, str | None]] = [(None, None), *((code, None) for code in CODES)]
    seen = set(keys)
    while len(keys) < count:
        key = (rng.choice([None, *CODES]), random_prefix(rng))
        if key not in seen:
            seen.add(key)
            keys.append(key)
    return [
        rules.Rule(
            f"r{number}",
            consumption_code=code,
            prefix=prefix,
            plant_type=f"type {number % 50}",
            inspection_area=number % 100,
            risk_category_group=1 + number % 5,
            inspection_rate=1 + number % 40,
        )
        for number, (code, prefix) in enumerate(keys[:count])
    ]


def make_plants(count: int, ruleset: list[rules.Rule], rng: random.Random) -> list[dict[str, Any]]:
    """Generated plants whose codes a rule names and whose næringskode extends a rule's prefix."""
    bodies = list(generate_plants(count, customer_numbers=[], seed=11))
    prefixed = [rule for rule in ruleset if rule.prefix]
    for body in bodies:
        rule = rng.choice(prefixed)
        prefix = rule.prefix or ""
        full = prefix if len(prefix) == 6 else (prefix + ".")[:3] + prefix[3:]
        body["industrialClassification"] = full + "".join(
            str(rng.randint(0, 9)) for _ in range(6 - len(full))
        )
        body["consumptionCode"] = rule.consumption_code or rng.choice(CODES)
        body.pop("auditSpecificInfo", None)
    return bodies


def timed_get(db: Database, instance_id: int, mpid: str) -> float:
    started = time.perf_counter()
    with db.read() as session:
        plants.get_plant(session, instance_id, mpid, today=today_in_oslo())
    return time.perf_counter() - started


def timed_upsert(db: Database, instance_id: int, body: dict[str, Any]) -> float:
    actor = Actor(instance_id=instance_id, request_id="bench")
    started = time.perf_counter()
    with db.write() as session:
        today = today_in_oslo()
        [outcome] = plants.upsert_plants(
            session, actor, [parse_valid_plant(body, today=today)], today=today
        )
    elapsed = time.perf_counter() - started
    assert outcome.result in ("created", "updated"), outcome.result
    return elapsed


def explicit_only(
    _session: Any, _instance_id: int, explicit: Mapping[str, Any], **_: str
) -> dict[str, Any]:
    """A plant view without derivation, not even the rules-version read: the cost floor."""
    return rules.audit_view(explicit, rules.NOTHING)


DERIVING = plant_views.audit_info


def set_derivation(on: bool) -> None:
    plant_views.audit_info = DERIVING if on else explicit_only


def _measure(
    db: Database, instances: dict[str, int], bodies: list[dict[str, Any]], *, rounds: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Each instance's GET and upsert rates (calls per second), one of each per round.

    Calls alternate between the instances plant by plant, in a rotating order, so that
    whatever else the machine does weighs on each alike; a round's rate is its calls over
    their summed time.
    """
    labels = list(instances)
    mpids = [str(body["meteringPointId"]) for body in bodies]
    measures: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in labels}
    for round_number in range(1, rounds + 1):
        get_time = dict.fromkeys(labels, 0.0)
        upsert_time = dict.fromkeys(labels, 0.0)
        for position, (mpid, body) in enumerate(zip(mpids, bodies, strict=True)):
            changed = {**body, "description": f"round {round_number}"}
            shift = position % len(labels)
            for label in labels[shift:] + labels[:shift]:
                set_derivation(label != "no derivation")
                get_time[label] += timed_get(db, instances[label], mpid)
                upsert_time[label] += timed_upsert(db, instances[label], changed)
        set_derivation(True)
        for label in labels:
            measures[label][0].append(len(mpids) / get_time[label])
            measures[label][1].append(len(mpids) / upsert_time[label])
    return measures


def _print_rates(rates: dict[str, tuple[float, float]], many: str) -> None:
    """The rates per instance, and what the rules and the version read cost of them."""
    print(f"{'rules':<26} {'GET/s':>10} {'upsert/s':>10}")
    for label, (get_rate, upsert_rate) in rates.items():
        print(f"{label:<26} {get_rate:>10.1f} {upsert_rate:>10.1f}")

    def cost(base: float, other: float) -> str:
        return f"{(base - other) / base * 100:+.1f} %"

    for label, against in ((f"cost of {many} rules", many), ("cost of the version read", "0")):
        base = "0" if against == many else "no derivation"
        print(
            f"{label:<26} {cost(rates[base][0], rates[against][0]):>10} "
            f"{cost(rates[base][1], rates[against][1]):>10}"
        )


def run(url: str, *, plant_count: int, rule_count: int, rounds: int) -> None:
    rng = random.Random(20261127)
    db = Database(url)
    upgrade_database(db.engine)
    ruleset = make_rules(rule_count, rng)
    bodies = make_plants(plant_count, ruleset, rng)
    mpids = [str(body["meteringPointId"]) for body in bodies]
    many = f"{rule_count:,}"
    labels = ["0", many, "no derivation"]
    instances: dict[str, int] = {}
    with db.write() as session:
        for label in labels:
            name = f"bench-{uuid.uuid4().hex[:6]}"
            instance = create_instance(session, name=name, environment="test")
            instances[label] = instance.id
    with db.write() as session:
        rules.replace_rules(session, Actor(instances[many]), ruleset)
    for instance_id in instances.values():
        for body in bodies:
            timed_upsert(db, instance_id, body)

    started = time.perf_counter()
    index = rules.RuleIndex(ruleset)
    compile_ms = (time.perf_counter() - started) * 1000
    probes = [(str(b["consumptionCode"]), str(b["industrialClassification"])) for b in bodies]
    started = time.perf_counter()
    for _ in range(20):
        for code, naeringskode in probes:
            index.lookup(code, naeringskode)
    lookup_us = (time.perf_counter() - started) / (20 * len(probes)) * 1e6
    rules.clear_cache()
    cold_ms = timed_get(db, instances[many], mpids[0]) * 1000

    measures = _measure(db, instances, bodies, rounds=rounds)
    db.dispose()

    backend = make_url(url).get_backend_name()
    print(
        f"\naudit rules: {plant_count} plants per instance, median of {rounds} rounds, "
        f"{backend}, service functions in one thread, one transaction per call"
    )
    # Each figure is the median of the rounds.
    rates = {
        label: (statistics.median(g), statistics.median(u)) for label, (g, u) in measures.items()
    }
    _print_rates(rates, many)
    print(
        f"compile {many} rules: {compile_ms:.1f} ms; one look-up: {lookup_us:.2f} µs; "
        f"first GET after a rule change (load + compile): {cold_ms:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plants", type=int, default=500)
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with fresh_database(args.db) as url:
        run(url, plant_count=args.plants, rule_count=args.rules, rounds=args.rounds)


if __name__ == "__main__":
    main()
