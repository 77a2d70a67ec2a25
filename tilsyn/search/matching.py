"""The SQL a search is made of: which plants a word finds, whether a plant matches a word,
the elements, customers and rules a filter reads (search/service.py puts them together into
pages). A word is a prefix range of ``search_tokens``' B-tree (core/search_text.py folds it).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Exists,
    Select,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    union,
)
from sqlalchemy.orm import Session, aliased

from tilsyn.contract.errors import InvalidRequest
from tilsyn.contract.plants.schemas import STATUSES
from tilsyn.contract.problems import Issue
from tilsyn.core import search_index as index
from tilsyn.core.models import Customer, CustomerPeriod, GridElement, Plant, SearchToken
from tilsyn.core.personal import stored_key
from tilsyn.core.search_text import prefix_bound, words
from tilsyn.rules.service import Rule, rules_for

MAX_WORDS = 8
"""A query of more words than this is refused: each word is a range scan and a join."""
_STATUS_BY_FOLDED = {status.casefold(): status for status in STATUSES}


def terms(q: str | None) -> list[str]:
    """The distinct words of ``q`` (at most :data:`MAX_WORDS`)."""
    found = list(dict.fromkeys(words(q)))
    if len(found) > MAX_WORDS:
        raise InvalidRequest(
            f"q may hold at most {MAX_WORDS} words.",
            errors=[Issue("q", "too_many_words", f"has more than {MAX_WORDS} words")],
        )
    return found


def word_plants(instance_id: int, word: str) -> list[Select[Any]]:
    """The plants a word finds on their own side: their words, the elements above them."""
    return [
        token_refs(instance_id, index.PLANT, word, prefix=True),
        plants_under(token_refs(instance_id, index.ELEMENT, word, prefix=True)),
    ]


def word_customers(instance_id: int, word: str) -> Select[Any]:
    """The customers (ids) whose name has a word starting with ``word``."""
    return token_refs(instance_id, index.CUSTOMER, word, prefix=True)


def plants_of(instance_id: int, customer_ids: Any, today: date) -> Select[Any]:
    """The plants whose customer in force ``today`` is one of these (ids)."""
    numbers = select(Customer.number).where(Customer.id.in_(customer_ids))
    return periods_in_force(instance_id, numbers, today)


def word_matches(instance_id: int, word: str, today: date) -> CompoundSelect[Any]:
    """Every plant this word finds: its own side's and its customer's."""
    return union(
        *word_plants(instance_id, word),
        plants_of(instance_id, word_customers(instance_id, word), today),
    )


# The aliases the statements below join through, built once: an ORM alias costs
# milliseconds to build, and a search of several words built dozens per request. One alias
# may appear in several subqueries of a statement; each is its own scope in SQL.
_HOLDS_TOKEN = aliased(SearchToken, name="holds_token")
_HOLDS_POINT = aliased(GridElement, name="holds_point")
_HOLDS_TRANSFORMER = aliased(GridElement, name="holds_transformer")
_HOLDS_PERIOD = aliased(CustomerPeriod, name="holds_period")
_LATER_PERIOD = aliased(CustomerPeriod, name="later_period")
_CHILD = aliased(GridElement, name="child_element")
_GRANDCHILD = aliased(GridElement, name="grandchild_element")


def word_holds(
    instance_id: int,
    word: str,
    today: date,
    columns: tuple[Any, Any],
    *,
    scoped: bool = False,
) -> ColumnElement[bool]:
    """Whether the plant with these columns (id, connection point id) matches ``word``:
    tested plant by plant through the index's ``(ref_id, kind, token)`` B-tree, a few
    look-ups, however many plants the word finds. The look-ups go by entity id, which is
    the instance's already.

    ``scoped`` names the instance too, for a statement that tests many plants: PostgreSQL
    may then hash the word's entries instead of looking each plant up, and it reads them
    as a range of the primary key (without, the whole index; at 1M plants, 1.5 s). Where
    few plants are tested it would hash a common word's range all the same (100,000
    entries where a hundred look-ups were due), so only walks scope their tests."""
    plant_id, connection_point_id = columns
    low, high = word, prefix_bound(word)
    scope = [_HOLDS_TOKEN.instance_id == instance_id] if scoped else []

    token = _HOLDS_TOKEN

    def has(kind: str, ref_id: Any) -> Exists:
        return exists().where(
            token.ref_id == ref_id,
            token.kind == kind,
            token.token >= low,
            token.token < high,
            *scope,
        )

    # The elements above by scalar look-ups, which PostgreSQL cannot turn into one hashed set
    # of every element the word names (it would, from a join, and read the index whole).
    point, transformer = _HOLDS_POINT, _HOLDS_TRANSFORMER
    outer = connection_point_id.table
    above_point = (
        select(point.parent_id)
        .where(point.id == connection_point_id)
        .correlate(outer)
        .scalar_subquery()
    )
    above_transformer = (
        select(transformer.parent_id)
        .where(transformer.id == above_point)
        .correlate(outer)
        .scalar_subquery()
    )
    period, later = _HOLDS_PERIOD, _LATER_PERIOD
    by_customer = exists().where(
        period.plant_id == plant_id,
        period.valid_from <= today,
        ~exists().where(
            later.plant_id == period.plant_id,
            later.valid_from > period.valid_from,
            later.valid_from <= today,
        ),
        Customer.instance_id == instance_id,
        Customer.number == period.customer_number,
        token.kind == index.CUSTOMER,
        token.ref_id == Customer.id,
        token.token >= low,
        token.token < high,
        *scope,
    )
    return or_(
        has(index.PLANT, plant_id),
        has(index.ELEMENT, connection_point_id),
        has(index.ELEMENT, above_point),
        has(index.ELEMENT, above_transformer),
        by_customer,
    )


def token_refs(instance_id: int, kind: str, token: str, *, prefix: bool = False) -> Select[Any]:
    """The entities with this word (or a word starting with it): a range of the index."""
    query = select(SearchToken.ref_id).where(
        SearchToken.instance_id == instance_id, SearchToken.kind == kind
    )
    if not prefix:
        return query.where(SearchToken.token == token)
    return query.where(SearchToken.token >= token, SearchToken.token < prefix_bound(token))


def element_id(instance_id: int, kind: str, name: str) -> Any:
    return (
        select(GridElement.id)
        .where(
            GridElement.instance_id == instance_id,
            GridElement.kind == kind,
            GridElement.name == name.strip(),
        )
        .scalar_subquery()
    )


def plants_under(element_ids: Select[Any]) -> Select[Any]:
    """The ids of the plants connected under any of these elements."""
    return select(Plant.id).where(
        Plant.connection_point_id.in_(connection_points_under(element_ids))
    )


def connection_points_under(element_ids: Select[Any]) -> CompoundSelect[Any]:
    """The elements among ``element_ids``, their children and grandchildren: the connection
    points a plant under any of them hangs from (plants only hang from connection points,
    so the other ids these hold never match)."""
    child, grandchild = _CHILD, _GRANDCHILD
    children = select(child.id).where(child.parent_id.in_(element_ids))
    return union(
        element_ids,
        children,
        select(grandchild.id).where(grandchild.parent_id.in_(children)),
    )


def periods_in_force(instance_id: int, customer_keys: Any, today: date) -> Select[Any]:
    """The plants whose customer in force ``today`` is one of these stored keys."""
    later = _LATER_PERIOD
    return select(CustomerPeriod.plant_id).where(
        CustomerPeriod.instance_id == instance_id,
        CustomerPeriod.customer_number.in_(customer_keys),
        CustomerPeriod.valid_from <= today,
        ~exists().where(
            later.plant_id == CustomerPeriod.plant_id,
            later.valid_from > CustomerPeriod.valid_from,
            later.valid_from <= today,
        ),
    )


def owned_by(session: Session, instance_id: int, number: str, today: date) -> Select[Any]:
    number = number.strip()
    keys = [] if "\x00" in number or not number else [stored_key(session, instance_id, number)]
    return periods_in_force(instance_id, keys, today)


def status(status: str) -> str:
    folded = status.strip().casefold()
    if folded not in _STATUS_BY_FOLDED:
        raise InvalidRequest(
            "status is not a plant status.",
            errors=[Issue("status", "invalid_status", f"must be one of {', '.join(STATUSES)}")],
        )
    return _STATUS_BY_FOLDED[folded]


def inspection_area(session: Session, instance_id: int) -> ColumnElement[Any]:
    """A plant's effective inspection area in SQL: the value sent, else the rules' (SPEC §7),
    as one CASE over the rules that give one, the most specific first."""
    explicit: ColumnElement[Any] = Plant.data[("auditSpecificInfo", "inspectionArea")].as_integer()
    giving = [rule for rule in rules_for(session, instance_id).rules if rule.inspection_area]
    giving.sort(key=lambda rule: rule.specificity, reverse=True)
    if not giving:
        return explicit
    derived = case(*((rule_matches(rule), rule.inspection_area) for rule in giving), else_=None)
    return func.coalesce(explicit, derived)


def rule_matches(rule: Rule) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if rule.consumption_code is not None:
        conditions.append(Plant.consumption_code == rule.consumption_code)
    if rule.prefix is not None:
        conditions.append(Plant.industrial_classification.startswith(rule.prefix, autoescape=True))
    return and_(literal(True), *conditions)
