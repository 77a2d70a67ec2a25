"""Finding plants: search with ``q`` and filters, a customer's plants, a connection point's.

Every listing here is one keyset page in metering point id order, ``next`` being the last id
of the page (``None`` on the last page). ``q`` is read into words (core/search_text.py); a plant
matches when every word starts a word of its metering point id, address or postal code, of
its current customer's name, or of the name of an element above it. Each word is a prefix
range of ``search_tokens``' B-tree; the cheapest word (or filter) drives, its plants read in
page order and the other words tested on them until the page is full (:func:`page_keys`),
so a search costs what it reads for its page, not the size of the register
(tests/test_search_plan.py reads both databases' query plans to hold that).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    func,
    intersect,
    or_,
    select,
    union,
)
from sqlalchemy.orm import Session, aliased

from tilsyn.contract.errors import NotFound
from tilsyn.contract.hierarchy.parse import CONNECTION_POINT, NET_STATION, TRANSFORMER
from tilsyn.contract.plants.merge import address_view
from tilsyn.core import search_index as index
from tilsyn.core.models import Customer, CustomerPeriod, GridElement, Plant
from tilsyn.core.personal import stored_key
from tilsyn.inspections.service import due_dates
from tilsyn.plants.periods import Period, in_force
from tilsyn.search import matching
from tilsyn.search.schemas import PlantItemAddressOut, PlantItemOut

MAX_PAGE = 500

Page = tuple[list[PlantItemOut], str | None]


@dataclass(frozen=True, slots=True)
class PlantSearch:
    """What a plant search asks for: ``q`` and every filter given (filters AND).

    Element filters name an element exactly (a net station's plants are those of its
    transformers' connection points); ``customer`` is a customer number, matched against the
    customer in force on the search's day; ``status`` is matched case-insensitively;
    ``due_before`` keeps the plants due for inspection before that day (SPEC §11's due date,
    computed, so it narrows what the other filters found rather than being looked up).
    """

    q: str | None = None
    postal_code: str | None = None
    net_station: str | None = None
    transformer: str | None = None
    connection_point: str | None = None
    customer: str | None = None
    inspection_area: int | None = None
    status: str | None = None
    due_before: date | None = None


def search_plants(
    session: Session,
    instance_id: int,
    search: PlantSearch,
    *,
    today: date,
    limit: int = 50,
    after: str | None = None,
) -> Page:
    """One page of the plants that match ``search`` on ``today``."""
    where = search_where(session, instance_id, search, today=today)
    if where.due_before is not None:
        return _due_page(session, instance_id, where, today=today, limit=limit, after=after)
    return _page(session, instance_id, where, today=today, limit=limit, after=after)


def search_where(session: Session, instance_id: int, search: PlantSearch, *, today: date) -> Where:
    """What :func:`search_plants` asks of the plants (:class:`PlantSearch` says what)."""
    # Driving sets are served by an index and read first; checks are tested on what they find.
    # The words of q are either (page_keys chooses, by how much each finds).
    terms = matching.terms(search.q)
    driving: list[Select[Any]] = []
    checks: list[ColumnElement[bool]] = []
    if search.postal_code is not None:
        driving.append(
            matching.token_refs(instance_id, index.POSTAL_CODE, search.postal_code.strip())
        )
    for kind, name in (
        (NET_STATION, search.net_station),
        (TRANSFORMER, search.transformer),
        (CONNECTION_POINT, search.connection_point),
    ):
        if name is not None:
            ids = select(matching.element_id(instance_id, kind, name))
            driving.append(matching.plants_under(ids))
    if search.customer is not None:
        driving.append(matching.owned_by(session, instance_id, search.customer, today))
    if search.inspection_area is not None:
        checks.append(matching.inspection_area(session, instance_id) == search.inspection_area)
    if search.status is not None:
        checks.append(Plant.status == matching.status(search.status))
    return Where(driving, checks, search.due_before, terms, today)


def customer_plants(
    session: Session,
    instance_id: int,
    *,
    number: str,
    today: date,
    limit: int = 50,
    after: str | None = None,
) -> Page:
    """The plants whose customer in force ``today`` is this one; 404 for an unknown number."""
    number = number.strip()
    key = None if "\x00" in number else stored_key(session, instance_id, number)
    if key is None or not session.scalar(
        select(Customer.id).where(Customer.instance_id == instance_id, Customer.number == key)
    ):
        raise NotFound("No customer with that number in this instance.")
    where = Where([matching.periods_in_force(instance_id, [key], today)], [])
    return _page(session, instance_id, where, today=today, limit=limit, after=after)


def connection_point_plants(
    session: Session,
    instance_id: int,
    *,
    name: str,
    today: date,
    limit: int = 50,
    after: str | None = None,
) -> Page:
    """The plants connected at this connection point; 404 when it does not exist."""
    element_id = (
        None
        if "\x00" in name
        else session.scalar(select(matching.element_id(instance_id, CONNECTION_POINT, name)))
    )
    if element_id is None:
        raise NotFound("No connection point with that name in this instance.")
    where = Where([select(Plant.id).where(Plant.connection_point_id == element_id)], [])
    return _page(session, instance_id, where, today=today, limit=limit, after=after)


# --- The page ----------------------------------------------------------------------------


_CONNECTION_POINT = aliased(GridElement, name="connection_point")


@dataclass(frozen=True)
class Where:
    """What a listing asks of its plants: ``driving`` sets of plant ids, each index-served
    (an element's connection points, a postal code's plants, a customer's periods),
    ``checks`` (status, inspection area) tested on the plants those sets find, and the
    ``words`` of q (each either drives or is tested: :func:`page_keys` chooses)."""

    driving: list[Select[Any]]
    checks: list[ColumnElement[bool]]
    due_before: date | None = None
    """Only the plants due before this day: computed, so tested on each page's candidates."""
    words: list[str] = field(default_factory=list)
    today: date | None = None
    """The day a customer is in force on (for ``words``)."""

    def holds(
        self, instance_id: int, word: str, plant: Any = Plant, *, scoped: bool = False
    ) -> ColumnElement[bool]:
        assert self.today is not None
        columns = (plant.id, plant.connection_point_id)
        return matching.word_holds(instance_id, word, self.today, columns, scoped=scoped)

    def select(
        self,
        instance_id: int,
        *columns: Any,
        found: Select[Any] | CompoundSelect[Any] | None = None,
        tested: Sequence[str] = (),
        also: Sequence[ColumnElement[bool]] = (),
    ) -> Select[Any]:
        """These columns of the plants that meet the conditions: the plants of ``found``
        (else of the driving sets) that pass the checks and match each ``tested`` word.

        The driving sets are intersected once (INTERSECT: each set is read once, not once
        per plant, which PostgreSQL's estimates of nested sets would otherwise choose) and
        joined to the plants by id. Each set is scoped to the instance where it starts (the
        index's words, the customer periods, the elements are all looked up by instance),
        so the plants it finds are the instance's; the plants are not filtered by instance
        again. That filter would be served by the plants' ``(instance_id,
        metering_point_id)`` index, which SQLite, planning without statistics, would walk
        in page order testing every plant of the instance against the sets: a scan.
        """
        tests = [*also, *(self.holds(instance_id, word) for word in tested)]
        sets = self.driving if found is None else [found]
        if not sets:
            return select(*columns).where(Plant.instance_id == instance_id, *self.checks, *tests)
        driven = (sets[0] if len(sets) == 1 else intersect(*sets)).subquery("found")
        return (
            select(*columns)
            .select_from(driven)
            .join(Plant, Plant.id == driven.c[0])
            .where(*self.checks, *tests)
        )


DRIVE_MAX = 10_000
"""A word that finds at most this many plants drives its search: they are read from the
index, tested and sorted. One that finds more (or of which more is not yet known) is tested
on the plants in page order instead (:func:`page_keys`)."""
WALK = 2_000
"""How many plants, in page order, a search of common words tests before it reads the
candidates of its two rarest words from the index instead."""


@dataclass(frozen=True)
class Reading:
    """How a page statement reads: the plants of ``found`` (else of the driving sets, else
    all the instance's), each tested for the words ``tested`` (else all), up to ``before``."""

    found: Select[Any] | CompoundSelect[Any] | None = None
    tested: Sequence[str] | None = None
    before: str | None = None
    also: Sequence[ColumnElement[bool]] = ()
    """Tests besides the words' (a :func:`_membership`), first in the statement."""


def page_query(
    instance_id: int, where: Where, *, limit: int, after: str | None, reading: Reading = Reading()
) -> Select[Any]:
    """The statement of one page: the ids and metering point ids of up to ``limit`` plants
    after ``after`` (and up to ``before``) that meet the conditions, the plants of ``found``
    (else of the driving sets) tested for the words ``tested`` (else all words).

    Only the keys: the documents are read for the page alone (:func:`_details`).
    """
    query = (
        where.select(
            instance_id,
            Plant.id,
            Plant.metering_point_id,
            found=reading.found,
            tested=where.words if reading.tested is None else reading.tested,
            also=reading.also,
        )
        .order_by(Plant.metering_point_id)
        .limit(limit)
    )
    if after:
        query = query.where(Plant.metering_point_id > after)
    if reading.before is not None:
        query = query.where(Plant.metering_point_id <= reading.before)
    return query


def walk_end(instance_id: int, after: str | None, plants: int = WALK) -> Select[Any]:
    """The metering point id ``plants`` plants on from ``after``: an index range of that
    many entries, read in order (none when fewer plants follow)."""
    query = select(Plant.metering_point_id).where(Plant.instance_id == instance_id)
    if after:
        query = query.where(Plant.metering_point_id > after)
    return query.order_by(Plant.metering_point_id).offset(plants - 1).limit(1)


@dataclass(frozen=True)
class WordSize:
    """How many plants a word finds, each count stopping at ``COUNTED + 1`` ("many"):
    on their own side (their words, the elements above them: estimated from a sample of
    the elements when it names many) and through their customers (customers counted)."""

    own: int
    customers: int

    @property
    def total(self) -> int:
        return self.own + self.customers


def word_size(session: Session, instance_id: int, word: str) -> WordSize:
    """What :class:`WordSize` says of ``word``: a few index ranges, each read no further
    than the cap."""
    cap = COUNTED + 1

    def count(query: Select[Any], most: int = cap) -> int:
        return session.scalar(select(func.count()).select_from(query.limit(most).subquery())) or 0

    own = count(matching.token_refs(instance_id, index.PLANT, word, prefix=True))
    customers = count(matching.token_refs(instance_id, index.CUSTOMER, word, prefix=True))
    elements = matching.token_refs(instance_id, index.ELEMENT, word, prefix=True)
    named = count(elements) if own < cap else 0
    if named:
        sample = elements.limit(_SAMPLE).subquery()
        under = count(matching.plants_under(select(sample.c.ref_id)))
        own += under if named <= _SAMPLE or under >= cap else under * named // _SAMPLE
    return WordSize(min(own, cap), customers)


_SAMPLE = 20
COUNTED = 20_000
"""Word sizes are counted up to this: beyond it a word is tested plant by plant."""


def _tests(
    instance_id: int, where: Where, tested: Sequence[str], sizes: dict[str, WordSize], most: int
) -> list[ColumnElement[bool]]:
    """How each word of ``tested`` is tested on at most ``most`` candidates: a word that finds
    fewer plants than a few look-ups per candidate would cost is read whole from the index
    once (each database keeps it as a hashed or sorted set and probes it); a common word is
    looked up plant by plant (:func:`matching.word_holds`)."""
    assert where.today is not None
    return [
        _word_in(instance_id, word, where.today)
        if sizes[word].own + sizes[word].customers * _LOOKUPS <= min(COUNTED, most * _LOOKUPS)
        else where.holds(instance_id, word)
        for word in tested
    ]


_LOOKUPS = 5
"""What a plant-by-plant test costs (index look-ups) against one plant of a set read from
the index; a customer's plants cost about as many look-ups to read as a set."""


def _word_in(instance_id: int, word: str, today: date) -> ColumnElement[bool]:
    """Whether a plant matches ``word``, as membership in the sets the word finds."""
    elements = matching.token_refs(instance_id, index.ELEMENT, word, prefix=True)
    return or_(
        Plant.id.in_(matching.token_refs(instance_id, index.PLANT, word, prefix=True)),
        Plant.connection_point_id.in_(matching.connection_points_under(elements)),
        Plant.id.in_(
            matching.plants_of(instance_id, matching.word_customers(instance_id, word), today)
        ),
    )


"""Elements whose plants are counted when a word names more (the rest estimated from them)."""


def _drive_from(sizes: dict[str, WordSize], ordered: Sequence[str]) -> tuple[list[str], int]:
    """The words whose index entries are cheapest to read the candidates from, and about how
    many candidates they give: the rarest word's, or two words' own sides and the customers
    whose names have both (which the index reads as two ranges intersected, guessed at a
    tenth of the customers either finds)."""
    best, cost = [ordered[0]], sizes[ordered[0]].total
    for i, first in enumerate(ordered):
        for second in ordered[i + 1 :]:
            a, b = sizes[first], sizes[second]
            pair = a.own + b.own + (a.customers + b.customers) // 10
            if pair < cost:
                best, cost = [first, second], pair
    return best, cost


def page_keys(
    session: Session, instance_id: int, where: Where, *, limit: int, after: str | None
) -> list[Any]:
    """The ``(id, metering point id)`` of up to ``limit`` plants after ``after`` that meet
    the conditions, in page order, read as each search is cheapest (docs/search.md, "How it
    stays fast"):

    - filters (postal code, elements, customer) drive, q's words are tested on what they find;
    - else the rarest word drives when it finds at most :data:`DRIVE_MAX` plants;
    - else two words drive when their own sides and the customers whose names have both
      look as few (:func:`_drive_from`: "Kari Nordmann");
    - else (only common words) :data:`WALK` plants are walked in page order, each tested for
      every word, which fills a page quickly where matches are dense; where they are not,
      the rest is driven as above from the cheapest words.

    Driven candidates are read in page order and tested a chunk at a time (:func:`_in_order`).
    """

    def run(query: Select[Any]) -> list[Any]:
        return list(session.execute(query).all())

    if not where.words:
        return run(page_query(instance_id, where, limit=limit, after=after))
    if where.driving:
        found = where.driving[0] if len(where.driving) == 1 else intersect(*where.driving)
        tests = [where.holds(instance_id, word) for word in where.words]
        return _in_order(session, where, found, tests, limit=limit, after=after)
    assert where.today is not None
    today = where.today
    sizes = {word: word_size(session, instance_id, word) for word in where.words}
    # The rarest first; among the many, longer words are likelier the rarer.
    ordered = sorted(where.words, key=lambda word: (sizes[word].total, -len(word)))
    rarest = ordered[0]
    if sizes[rarest].total <= DRIVE_MAX:
        found = matching.word_matches(instance_id, rarest, today)
        tests = _tests(instance_id, where, ordered[1:], sizes, sizes[rarest].total)
        return _in_order(session, where, found, tests, limit=limit, after=after)
    drive, cost = _drive_from(sizes, ordered)
    if cost <= DRIVE_MAX:
        return _driven(session, instance_id, where, (drive, ordered, sizes), limit, after)
    # One word alone is as cheap to test plant by plant as against its sets, and its sets
    # are what a drive from it reads: the walk pays where other words are tested too.
    member = _membership(session, instance_id, rarest, today) if len(ordered) > 1 else None
    if member is not None:
        walk = (member, (drive, ordered, sizes))
        return _walk_members(session, instance_id, where, walk, limit, after)
    return _walk_then_drive(session, instance_id, where, (drive, ordered, sizes), limit, after)


def _walk_then_drive(
    session: Session,
    instance_id: int,
    where: Where,
    words_: tuple[list[str], list[str], dict[str, WordSize]],
    limit: int,
    after: str | None,
) -> list[Any]:
    """:data:`WALK` plants in page order, each tested for every word; where that does not
    fill the page, the rest driven from ``drive`` (:func:`_driven`)."""
    end = session.scalar(walk_end(instance_id, after))
    walk = Reading(tested=words_[1], before=end)
    query = page_query(instance_id, where, limit=limit, after=after, reading=walk)
    walked = list(session.execute(query).all())
    if len(walked) >= limit or end is None:
        return walked
    return walked + _driven(session, instance_id, where, words_, limit - len(walked), end)


WALK_BUDGET = 4
"""A walk against a word's sets tests at most this many times the plants the word finds
(walking a plant in page order costs less than reading one from the index and sorting it)."""
MEMBERS_MAX = 20_000
"""How many entries the sets of :func:`_membership` may hold together: beyond that, building
them for each stretch of a walk costs more than looking each plant up."""


def _membership(
    session: Session, instance_id: int, word: str, today: date
) -> ColumnElement[bool] | None:
    """Whether a plant matches ``word``, as membership in sets each statement reads once
    from the index (and hashes): the plants with the word, the connection points under the
    elements named by it, the plants of the customers named by it. None when the sets hold
    more than :data:`MEMBERS_MAX` entries (counted, a capped index range each).

    A common word that names few elements ("Bærum": its net stations) finds many plants
    but few connection points; testing the plants, in page order, against those few is
    cheaper than putting every plant the word finds in page order."""
    elements = matching.token_refs(instance_id, index.ELEMENT, word, prefix=True)
    sets = (
        (Plant.id, matching.token_refs(instance_id, index.PLANT, word, prefix=True)),
        (Plant.connection_point_id, matching.connection_points_under(elements)),
        (
            Plant.id,
            matching.plants_of(instance_id, matching.word_customers(instance_id, word), today),
        ),
    )
    room, tests = MEMBERS_MAX, []
    for column, query in sets:
        found = query.subquery()
        room -= session.scalar(select(func.count()).select_from(found).limit(room + 1)) or 0
        if room < 0:
            return None
        tests.append(column.in_(select(found.c[0])))
    return or_(*tests)


def _walk_members(
    session: Session,
    instance_id: int,
    where: Where,
    walk: tuple[ColumnElement[bool], tuple[list[str], list[str], dict[str, WordSize]]],
    limit: int,
    after: str | None,
) -> list[Any]:
    """The first ``limit`` plants after ``after``, in page order, that pass the
    :func:`_membership` of the rarest word and match the other words: the plants are walked
    in page order, :data:`WALK` at first and four times as many each time after, so a page
    costs about the plants before its last match. Each stretch is bounded: a database that
    expects to test few plants looks each up, where it would otherwise read every entry of
    a common word to hash them (PostgreSQL did: 1.5 s for "NS Bærum 3").

    Where matches are rare (a filter few plants pass), the walk stops after
    :data:`WALK_BUDGET` times the plants the rarest word finds, and the rest is driven from
    the words (:func:`_driven`), which costs those plants, not the register."""
    member, words_ = walk
    _, ordered, sizes = words_
    # Built once, not per stretch; scoped (see word_holds): a stretch is thousands of plants.
    built = [member, *(where.holds(instance_id, word, scoped=True) for word in ordered[1:])]
    budget = WALK_BUDGET * sizes[ordered[0]].total
    kept: list[Any] = []
    cursor, stretch = after, WALK
    while True:
        if budget <= 0:
            return kept + _driven(session, instance_id, where, words_, limit - len(kept), cursor)
        stretch = min(stretch, budget)
        budget -= stretch
        end = session.scalar(walk_end(instance_id, cursor, stretch))
        query = page_query(
            instance_id,
            where,
            limit=limit - len(kept),
            after=cursor,
            reading=Reading(tested=(), before=end, also=built),
        )
        kept += session.execute(query).all()
        if len(kept) >= limit or end is None:
            return kept
        cursor, stretch = end, stretch * 4


def _both_sides(
    session: Session, instance_id: int, pair: Sequence[str], today: date
) -> tuple[Select[Any], Any]:
    """The plants that match both words of ``pair``, split in two sets read from the index.

    A plant matches a word through its own side (its words, its elements') or through its
    customer's name. So a plant matching both either has a customer whose name has both
    (the first set: they match both words, by construction), or is found by one of them on
    its own side (the second set, a superset to be tested): for common name words ("Kari
    Nordmann") that is far fewer plants than either word finds. Those customers are read
    first (two ranges of the index intersected) and, when few, handed on as ids: PostgreSQL,
    guessing their number from the ranges, would otherwise read every customer to join them.
    """
    both: Any = intersect(*(matching.word_customers(instance_id, word) for word in pair))
    ids = list(session.scalars(select(both.subquery().c[0]).limit(DRIVE_MAX + 1)))
    if len(ids) <= DRIVE_MAX:
        both = ids
    own: Any = union(*(part for word in pair for part in matching.word_plants(instance_id, word)))
    # The same for the plants either word finds on its own side (from ranges PostgreSQL
    # guesses at thousands of rows when they hold none, and joins to every plant by hash).
    plant_ids = list(session.scalars(select(own.subquery().c[0]).limit(DRIVE_MAX + 1)))
    if len(plant_ids) <= DRIVE_MAX:
        own = select(Plant.id).where(Plant.id.in_(plant_ids))
    return matching.plants_of(instance_id, both, today), own


def _driven(
    session: Session,
    instance_id: int,
    where: Where,
    words_: tuple[list[str], list[str], dict[str, WordSize]],
    limit: int,
    after: str | None,
) -> list[Any]:
    """A page driven from ``drive`` (one word or a pair, :func:`_drive_from`), every word of
    ``ordered`` tested on what it finds (the pair's customers' plants match the pair)."""
    drive, ordered, sizes = words_
    assert where.today is not None
    if len(drive) == 1:
        found = matching.word_matches(instance_id, drive[0], where.today)
        rest = [word for word in ordered if word != drive[0]]
        tests = _tests(instance_id, where, rest, sizes, CANDIDATES)
        return _in_order(session, where, found, tests, limit=limit, after=after)
    sure, own = _both_sides(session, instance_id, drive, where.today)
    others = [word for word in ordered if word not in drive]
    rows = _in_order(
        session,
        where,
        sure,
        _tests(instance_id, where, others, sizes, CANDIDATES),
        limit=limit,
        after=after,
    )
    rows += _in_order(
        session,
        where,
        own,
        _tests(instance_id, where, ordered, sizes, CANDIDATES),
        limit=limit,
        after=after,
    )
    merged = {row[0]: row for row in rows}
    return sorted(merged.values(), key=lambda row: row[1])[:limit]


CANDIDATES = 2_000
"""How many candidates, in page order, a driven search reads from the index at first."""


def _in_order(
    session: Session,
    where: Where,
    found: Select[Any] | CompoundSelect[Any],
    tests: Sequence[ColumnElement[bool]],
    *,
    limit: int,
    after: str | None,
) -> list[Any]:
    """The first ``limit`` plants of ``found`` after ``after`` that pass the checks and
    ``tests`` (words of q).

    The candidates' keys are read in page order first, :data:`CANDIDATES` at a time (the
    sort costs a key per candidate), and the words tested on them a chunk at a time, so a
    page costs the candidates it tests, not all that ``found`` holds.
    """
    if not tests:  # checks alone (status, inspection area) are columns of the plant read
        keys = Reading(found, ())
        return list(session.execute(page_query(0, where, limit=limit, after=after, reading=keys)))
    kept: list[Any] = []
    cursor, batch = after, CANDIDATES
    while True:
        candidates = list(
            session.execute(
                page_query(0, Where([], []), limit=batch, after=cursor, reading=Reading(found, ()))
            )
        )
        start, size = 0, 2 * limit
        while start < len(candidates) and len(kept) < limit:
            ids = [row[0] for row in candidates[start : start + size]]
            query = (
                select(Plant.id, Plant.metering_point_id)
                .where(Plant.id.in_(ids), *where.checks, *tests)
                .order_by(Plant.metering_point_id)
                .limit(limit - len(kept))
            )
            kept += session.execute(query).all()
            start, size = start + size, size * 4
        if len(kept) >= limit or len(candidates) < batch:
            return kept
        cursor, batch = candidates[-1][1], batch * 4


def _keys(
    session: Session, instance_id: int, where: Where, *, limit: int, after: str | None
) -> list[Any]:
    return page_keys(session, instance_id, where, limit=limit, after=after)


def _details(session: Session, keys: Sequence[Any]) -> list[Any]:
    """The rows listings read, for these ``(id, metering point id)`` keys, in their order."""
    if not keys:
        return []
    query = (
        select(
            Plant.id,
            Plant.metering_point_id,
            Plant.data,
            Plant.status,
            _CONNECTION_POINT.name,
        )
        .outerjoin(_CONNECTION_POINT, _CONNECTION_POINT.id == Plant.connection_point_id)
        .where(Plant.id.in_([key[0] for key in keys]))
    )
    rows = {row[0]: row for row in session.execute(query)}
    return [rows[key[0]] for key in keys]


def _page(
    session: Session,
    instance_id: int,
    where: Where,
    *,
    today: date,
    limit: int,
    after: str | None,
) -> Page:
    keys = _keys(session, instance_id, where, limit=limit + 1, after=after)
    items = plant_items(session, instance_id, _details(session, keys[:limit]), today=today)
    return items, items[-1].meteringPointId if len(keys) > limit else None


_DUE_CHUNK = 1000


def _due_page(
    session: Session,
    instance_id: int,
    where: Where,
    *,
    today: date,
    limit: int,
    after: str | None,
) -> Page:
    """A page of the plants that meet the conditions and are due before ``where.due_before``:
    the candidates in order, a chunk at a time, their due dates computed in bulk."""
    assert where.due_before is not None
    due_before = where.due_before
    kept: list[Any] = []
    dues: dict[int, date | None] = {}
    cursor = after
    while len(kept) <= limit:
        chunk = _keys(session, instance_id, where, limit=_DUE_CHUNK, after=cursor)
        if not chunk:
            break
        found = due_dates(session, instance_id, today=today, plant_ids=[row[0] for row in chunk])
        for row in chunk:
            day = found[row[0]].due_date if row[0] in found else None
            if day is not None and day < due_before:
                kept.append(row)
                dues[row[0]] = day
        cursor = chunk[-1][1]
        if len(chunk) < _DUE_CHUNK:
            break
    rows = _details(session, kept[:limit])
    items = plant_items(session, instance_id, rows, today=today, dues=dues)
    return items, items[-1].meteringPointId if len(kept) > limit else None


def plant_items(
    session: Session,
    instance_id: int,
    rows: Sequence[Any],
    *,
    today: date,
    dues: dict[int, date | None] | None = None,
) -> list[PlantItemOut]:
    """Plants as listings show them: ``(id, metering point id, data, status, connection
    point name)`` rows in, their :class:`PlantItemOut` out, built once here (due dates
    computed here unless given)."""
    plant_ids = [row[0] for row in rows]
    names = _customer_names(session, instance_id, plant_ids, today)
    if dues is None:
        dues = {
            plant_id: due.due_date
            for plant_id, due in (
                due_dates(session, instance_id, today=today, plant_ids=plant_ids).items()
                if plant_ids
                else ()
            )
        }
    return [
        PlantItemOut(
            meteringPointId=mpid,
            address=(
                PlantItemAddressOut.model_validate(address_view(data["address"]))
                if data.get("address")
                else None
            ),
            customerName=names.get(plant_id),
            connectionPoint=connection_point,
            status=status,
            dueDate=_iso(dues.get(plant_id)),
        )
        for plant_id, mpid, data, status, connection_point in (tuple(row) for row in rows)
    ]


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _customer_names(
    session: Session, instance_id: int, plant_ids: list[int], today: date
) -> dict[int, str]:
    """The name of each plant's customer in force ``today`` (plants without one left out)."""
    if not plant_ids:
        return {}
    periods: dict[int, list[Period]] = {}
    for plant_id, valid_from, key in session.execute(
        select(CustomerPeriod.plant_id, CustomerPeriod.valid_from, CustomerPeriod.customer_number)
        .where(CustomerPeriod.plant_id.in_(plant_ids))
        .order_by(CustomerPeriod.plant_id, CustomerPeriod.valid_from)
    ):
        periods.setdefault(plant_id, []).append(Period(valid_from, key))
    current = {
        plant_id: period.customer
        for plant_id, plant_periods in periods.items()
        if (period := in_force(plant_periods, today)) is not None and period.customer
    }
    if not current:
        return {}
    documents: dict[str, dict[str, Any]] = dict(
        session.execute(
            select(Customer.number, Customer.data).where(
                Customer.instance_id == instance_id,
                Customer.number.in_(sorted(set(current.values()))),
            )
        ).all()
    )
    names = {key: customer_name(document) for key, document in documents.items()}
    return {
        plant_id: name for plant_id, key in current.items() if (name := names.get(key)) is not None
    }


def customer_name(document: dict[str, Any]) -> str | None:
    """First and last name (a company's name is its last name), as a person reads them."""
    parts = [document.get("FirstName"), document.get("LastName")]
    name = " ".join(part.strip() for part in parts if part and part.strip())
    return name or None
