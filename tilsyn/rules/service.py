"""Audit rules: derive a plant's auditSpecificInfo from its consumption code and næringskode.

SPEC §7, docs/rules.md. Three parts:

- pure: a rule set is checked (ids, values, ties) and compiled into an index whose lookup
  walks the plant's næringskode prefixes from the longest, so it costs the same for ten rules
  as for ten thousand;
- cache: every server process keeps each instance's compiled index stamped with the
  instance's ``rules_version``; a read fetches the stamp in its own transaction (one primary
  key look-up) and recompiles when another process has changed the rules, so a change shows
  in every plant's GET at once, on every process, without rewriting a plant;
- database: read, replace atomically (with history), reset to the default set.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from sqlalchemy import Engine, String, bindparam, insert, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

from tilsyn.contract.bodies import fold_keys, read_model, shape_of, validate
from tilsyn.contract.errors import InvalidBody, NotFound
from tilsyn.contract.problems import Issues
from tilsyn.core.changelog import Actor, record_change, values_before
from tilsyn.core.models import AuditRule, Instance
from tilsyn.core.outcome import Outcome
from tilsyn.core.tenancy import owned_by, scoped_delete
from tilsyn.rules import files
from tilsyn.rules.schemas import (
    RULE_FIELDS,
    AuditRuleIn,
    AuditRuleOut,
    AuditRulesIn,
    AuditRulesOut,
    ValidationSettingsIn,
    ValidationSettingsOut,
    to_rule_id,
)
from tilsyn.validation.codes import CONSUMPTION_CODES

AUDIT_FIELDS = ("plantType", "inspectionArea", "riskCategoryGroup", "inspectionRate")
MAX_RULES = 100_000
DEFAULT_RULES_FILE = "default_rules.yaml"

AuditValues = tuple[str | None, int | None, int | None, int | None]


# --- Rules and their precedence --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: where it applies (None is any) and the values it gives (None gives nothing)."""

    id: str
    consumption_code: str | None = None
    prefix: str | None = None
    plant_type: str | None = None
    inspection_area: int | None = None
    risk_category_group: int | None = None
    inspection_rate: int | None = None
    description: str | None = None

    @property
    def values(self) -> AuditValues:
        """In the order of ``AUDIT_FIELDS``."""
        return (
            self.plant_type,
            self.inspection_area,
            self.risk_category_group,
            self.inspection_rate,
        )

    @property
    def specificity(self) -> tuple[int, int]:
        """Code and prefix, then prefix alone, then code alone, then neither (the catch-all);
        within the first two, a longer prefix is more specific."""
        has_code = self.consumption_code is not None
        has_prefix = self.prefix is not None
        return ((2 if has_prefix else 0) + (1 if has_code else 0), len(self.prefix or ""))

    def matches(self, consumption_code: str, naeringskode: str) -> bool:
        return (self.consumption_code is None or self.consumption_code == consumption_code) and (
            self.prefix is None or naeringskode.startswith(self.prefix)
        )

    def document(self) -> dict[str, Any]:
        """The rule as files and history hold it: wire names, codes as text."""
        return dict(
            zip(
                RULE_FIELDS,
                (self.id, self.consumption_code, self.prefix, *self.values, self.description),
                strict=True,
            )
        )

    def wire(self) -> dict[str, Any]:
        """As the API returns it: a numeric consumption code is a number, like a plant's."""
        document = self.document()
        code = self.consumption_code
        document["consumptionCode"] = int(code) if code is not None and code.isdigit() else code
        return document

    def out(self) -> AuditRuleOut:
        """:meth:`wire` as the output model."""
        return AuditRuleOut.model_validate(self.wire())


def describe(rule: Rule) -> str:
    """Where a rule applies, in words: "consumption code 35 and prefix 55", "catch-all"..."""
    if rule.consumption_code is not None and rule.prefix is not None:
        return f"consumption code {rule.consumption_code} and prefix {rule.prefix}"
    if rule.prefix is not None:
        return f"prefix {rule.prefix}"
    if rule.consumption_code is not None:
        return f"consumption code {rule.consumption_code} only"
    return "catch-all"


def _scope(rule: Rule) -> str:
    code = f"consumption code {rule.consumption_code}" if rule.consumption_code else None
    prefix = f"næringskode prefix {rule.prefix}" if rule.prefix else None
    if code and prefix:
        return f"{code} and {prefix}"
    if prefix:
        return f"any consumption code and {prefix}"
    if code:
        return f"{code} and any næringskode"
    return "every plant (catch-all)"


Found = tuple[Rule | None, Rule | None, Rule | None, Rule | None]
NOTHING: Found = (None, None, None, None)


class RuleIndex:
    """A rule set compiled for look-up: ``(code, prefix) → the rule giving each value``.

    A plant's candidates, most specific first, are its code with each of its næringskode's
    prefixes (longest first), each prefix alone, its code alone, and the catch-all: at most
    ten dictionary look-ups, whatever the number of rules. Equal specificity means equal
    ``(code, prefix)``, so a tie is visible when a rule set is saved and never at look-up.
    """

    __slots__ = ("_lengths", "_slots", "rules")

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules = tuple(rules)
        slots: dict[tuple[str | None, str | None], list[Rule | None]] = {}
        for rule in self.rules:
            slot = slots.setdefault((rule.consumption_code, rule.prefix), [None, None, None, None])
            for position, value in enumerate(rule.values):
                # A saved rule set has no ties; should stored rows have one, the first wins.
                if value is not None and slot[position] is None:
                    slot[position] = rule
        self._slots: dict[tuple[str | None, str | None], Found] = {
            key: (slot[0], slot[1], slot[2], slot[3]) for key, slot in slots.items()
        }
        self._lengths = tuple(
            sorted({len(rule.prefix) for rule in self.rules if rule.prefix}, reverse=True)
        )

    def __len__(self) -> int:
        return len(self.rules)

    def lookup(self, consumption_code: str, naeringskode: str) -> Found:
        """The most specific rule giving each of the four values (None where none does)."""
        slots = self._slots
        if not slots:
            return NOTHING
        prefixes = [
            naeringskode[:length] for length in self._lengths if length <= len(naeringskode)
        ]
        keys: list[tuple[str | None, str | None]] = [(consumption_code, p) for p in prefixes]
        keys += [(None, p) for p in prefixes]
        keys += [(consumption_code, None), (None, None)]
        found: list[Rule | None] = [None, None, None, None]
        missing = 4
        for key in keys:
            slot = slots.get(key)
            if slot is None:
                continue
            for position in range(4):
                if found[position] is None and slot[position] is not None:
                    found[position] = slot[position]
                    missing -= 1
            if not missing:
                break
        return (found[0], found[1], found[2], found[3])


EMPTY_INDEX = RuleIndex(())


# --- Checking a rule set -------------------------------------------------------------------


def parse_rule_set(data: dict[str, Any]) -> tuple[list[Rule] | None, Issues]:
    """The rules of ``{"rules": [...]}``, or None with every problem, each at ``rules[i].field``.

    Names match case-insensitively as in every body; unknown ones are warnings.
    """
    issues = Issues()
    folded = fold_keys(data, shape_of(AuditRulesIn), "", issues)
    items = folded.get("rules")
    if items is None:
        issues.error("rules", "missing", "is required (an empty list clears the rule set)")
        return None, issues
    if not isinstance(items, list):
        issues.error("rules", "list_type", "must be a JSON array of rules")
        return None, issues
    if len(items) > MAX_RULES:
        issues.error("rules", "too_long", f"holds more than {MAX_RULES} rules")
        return None, issues
    rules: list[Rule | None] = []
    ids: list[str | None] = []
    item_shape = shape_of(AuditRuleIn)
    for index, item in enumerate(items):
        path = f"rules[{index}]"
        if not isinstance(item, dict):
            issues.error(path, "model_type", "must be a JSON object")
            rules.append(None)
            ids.append(None)
            continue
        folded_item = fold_keys(item, item_shape, path, issues)
        body = validate(AuditRuleIn, folded_item, issues, path)
        rules.append(None if body is None else _rule_from(body))
        ids.append(body.id if body is not None else _id_or_none(folded_item.get("id")))
    check_rules(rules, issues, ids=ids)
    if issues.errors:
        return None, issues
    return [rule for rule in rules if rule is not None], issues


def _id_or_none(value: Any) -> str | None:
    """The id of a rule that failed validation, so that a duplicate is still reported."""
    try:
        return to_rule_id(value)
    except ValueError:
        return None


def _rule_from(body: AuditRuleIn) -> Rule:
    return Rule(
        id=body.id,
        consumption_code=body.consumptionCode,
        prefix=body.naeringskodePrefix,
        plant_type=body.plantType,
        inspection_area=body.inspectionArea,
        risk_category_group=body.riskCategoryGroup,
        inspection_rate=body.inspectionRate,
        description=body.description,
    )


def check_rules(
    rules: Sequence[Rule | None], issues: Issues, *, ids: Sequence[str | None] | None = None
) -> None:
    """Rules among themselves: unique ids (ignoring case), at least one value each, no ties.

    Two rules tie on a value when both give it for the same consumption code and prefix
    (or both for any): no plant could tell them apart, so the set is rejected, naming both.
    ``ids`` may add the ids of rules that failed validation (None in ``rules``).
    """
    if ids is None:
        ids = [rule.id if rule else None for rule in rules]
    first_of: dict[str, int] = {}
    for index, rule_id in enumerate(ids):
        if rule_id is None:
            continue
        first = first_of.setdefault(rule_id.casefold(), index)
        if first != index:
            issues.error(
                f"rules[{index}].id",
                "duplicate_id",
                f"'{rule_id}' is also the id of rules[{first}]",
            )
    givers: dict[tuple[str | None, str | None, int], int] = {}
    for index, rule in enumerate(rules):
        if rule is None:
            continue
        path = f"rules[{index}]"
        if all(value is None for value in rule.values):
            issues.error(path, "no_values", f"gives none of {', '.join(AUDIT_FIELDS)}")
        if rule.consumption_code is not None and rule.consumption_code not in CONSUMPTION_CODES:
            issues.warn(
                f"{path}.consumptionCode",
                "unknown_code",
                "is not in Elhub's list (1, 1a, 2–29, 29a, 30–36); only plants with this very "
                "code will match",
                plausibility=False,
            )
        for position, value in enumerate(rule.values):
            if value is None:
                continue
            other = givers.setdefault((rule.consumption_code, rule.prefix, position), index)
            if other != index:
                rival = rules[other]
                assert rival is not None
                issues.error(
                    f"{path}.{AUDIT_FIELDS[position]}",
                    "tie",
                    f"rules[{other}] ('{rival.id}') also gives {AUDIT_FIELDS[position]} for "
                    f"{_scope(rule)}; equally specific rules would be ambiguous, so give it in "
                    "one of them only",
                )


# --- The default rule set ------------------------------------------------------------------


@cache
def default_rules() -> tuple[Rule, ...]:
    """The rule set a new instance starts with (tilsyn/data/default_rules.yaml)."""
    text = (resources.files("tilsyn") / "data" / DEFAULT_RULES_FILE).read_text(encoding="utf-8")
    found = files.read_yaml(text)
    rules, issues = parse_rule_set({"rules": found.rows})
    if found.errors or rules is None or issues.errors or issues.warnings:
        problems = [message for _, message in found.errors]
        problems += [f"{i.field}: {i.message}" for i in [*issues.errors, *issues.warnings]]
        raise RuntimeError(f"{DEFAULT_RULES_FILE} is not a valid rule set: {problems}")
    return tuple(rules)


# --- Per-process cache of compiled rule sets -----------------------------------------------

_Stamp = tuple[int, Any]
# One cache per connection pool, that is per Database object (per server process in
# production): two Database objects in one process behave like two processes.
_caches: weakref.WeakKeyDictionary[Pool, dict[int, tuple[_Stamp, RuleIndex]]] = (
    weakref.WeakKeyDictionary()
)
_caches_lock = threading.Lock()
_CHANGED = "tilsyn.rules.changed"
"""``session.info`` key: instances whose rules this session changed and has not committed."""


def _process_cache(session: Session) -> dict[int, tuple[_Stamp, RuleIndex]]:
    bind = session.get_bind()
    pool = bind.pool if isinstance(bind, Engine) else bind.engine.pool
    found = _caches.get(pool)
    if found is None:
        with _caches_lock:
            found = _caches.setdefault(pool, {})
    return found


def stamp_columns() -> tuple[Any, Any]:
    """The instance's rules stamp as two columns of a plant read joined to ``instances``;
    see :func:`note_stamp`."""
    # The creation time as stored (text on SQLite): compared, never read, so not parsed.
    return (
        Instance.rules_version.label("rules_version"),
        type_coerce(Instance.created_at, String).label("rules_created_at"),
    )


# Built once and run on the session's connection: every plant read pays for this statement,
# and the ORM's per-call statement handling would cost more than the read itself.
_STAMP = select(*stamp_columns()).where(Instance.id == bindparam("instance_id"))
_NOTED = "tilsyn.rules.stamp"
"""``session.info`` key: a stamp read along with a plant, valid in that transaction only."""


def note_stamp(session: Session, instance_id: int, stamp: Sequence[Any]) -> None:
    """Keep a stamp read with a plant (:func:`stamp_columns`) for this transaction: deriving
    the plant's values right after then needs no read of its own."""
    session.info[_NOTED] = (session.get_transaction(), instance_id, (stamp[-2], stamp[-1]))


def _stamp(session: Session, instance_id: int, *, fresh: bool = False) -> _Stamp | None:
    """The rules version, with the creation time (as stored) in case an id is ever reused."""
    noted = None if fresh else session.info.get(_NOTED)
    if noted is not None and noted[1] == instance_id:
        transaction = session.get_transaction()
        if transaction is not None and noted[0] is transaction:
            stamp: _Stamp = noted[2]
            return stamp
    row = session.connection().execute(_STAMP, {"instance_id": instance_id}).first()
    return None if row is None else (row[0], row[1])


def rules_for(session: Session, instance_id: int) -> RuleIndex:
    """The instance's compiled rules as of this transaction, from the cache when current."""
    stamp = _stamp(session, instance_id)
    if stamp is None:
        return EMPTY_INDEX
    cached = _process_cache(session)
    entry = cached.get(instance_id)
    if entry is not None and entry[0] == stamp:
        return entry[1]
    index = RuleIndex(load_rules(session, instance_id))
    # Cache only what is committed and read whole: under READ COMMITTED another process may
    # have replaced the rules between the two statements; the same stamp after means it has not.
    unchanged = _stamp(session, instance_id, fresh=True) == stamp
    if unchanged and instance_id not in session.info.get(_CHANGED, ()):
        cached[instance_id] = (stamp, index)
    return index


def clear_cache() -> None:
    """Forget every compiled rule set of this process (benchmarks and tests)."""
    with _caches_lock:
        for cached in _caches.values():
            cached.clear()


RULES_KEY = "audit-rules"
"""The history key of an instance's rule set."""

# --- Deriving a plant's values ---------------------------------------------------------------


def audit_view(explicit: Mapping[str, Any], found: Found) -> dict[str, Any]:
    """The four values with their ``source``: explicit beats derived, value by value."""
    audit: dict[str, Any] = {}
    source: dict[str, str | None] = {}
    for position, name in enumerate(AUDIT_FIELDS):
        rule = found[position]
        if explicit.get(name) is not None:
            audit[name], source[name] = explicit[name], "explicit"
        elif rule is not None:
            audit[name], source[name] = rule.values[position], f"rule:{rule.id}"
        else:
            audit[name], source[name] = None, None
    audit["source"] = source
    return audit


def audit_info(
    session: Session,
    instance_id: int,
    explicit: Mapping[str, Any],
    *,
    consumption_code: str,
    naeringskode: str,
) -> dict[str, Any]:
    """A plant's auditSpecificInfo as GET shows it, derived with the rules in force now."""
    if all(explicit.get(name) is not None for name in AUDIT_FIELDS):
        return audit_view(explicit, NOTHING)
    return derived_audit(
        rules_for(session, instance_id),
        explicit,
        consumption_code=consumption_code,
        naeringskode=naeringskode,
    )


def derived_audit(
    rules: RuleIndex, explicit: Mapping[str, Any], *, consumption_code: str, naeringskode: str
) -> dict[str, Any]:
    """:func:`audit_info` with the rules at hand (a batch reads them once)."""
    if all(explicit.get(name) is not None for name in AUDIT_FIELDS):
        return audit_view(explicit, NOTHING)
    return audit_view(explicit, rules.lookup(consumption_code, naeringskode.strip()))


def warn_if_uncovered(
    audit: Mapping[str, Any], issues: Issues, *, consumption_code: str, naeringskode: str
) -> None:
    """``no_rule`` when none of the four values was sent and no rule gives any of them.

    A notice about the instance's rules, not about the body: strictValidation never rejects it.
    """
    if all(source is None for source in audit["source"].values()):
        issues.warn(
            "auditSpecificInfo",
            "no_rule",
            f"no rule covers consumption code {consumption_code} with næringskode "
            f"{naeringskode} and no value was sent, so all four values are empty; add a rule "
            "(settings) or send auditSpecificInfo",
            plausibility=False,
        )


# --- Reading and replacing an instance's rules ---------------------------------------------


def load_rules(session: Session, instance_id: int) -> list[Rule]:
    """The instance's rules in the order they were given."""
    rows = session.execute(
        select(
            AuditRule.rule_id,
            AuditRule.consumption_code,
            AuditRule.naeringskode_prefix,
            AuditRule.plant_type,
            AuditRule.inspection_area,
            AuditRule.risk_category_group,
            AuditRule.inspection_rate,
            AuditRule.description,
        )
        .where(owned_by(AuditRule, instance_id))
        .order_by(AuditRule.id)
    )
    return [Rule(*row) for row in rows]


def rules_at(session: Session, instance_id: int, moment: datetime | None) -> RuleIndex:
    """The rules in force just before ``moment`` (None: now), rebuilt from the current ones by
    undoing the rule changes history recorded since: an as-of read derives a plant's values
    as that day's rules did, not as today's would."""
    if moment is None:
        return rules_for(session, instance_id)
    documents = {rule.id: rule.document() for rule in load_rules(session, instance_id)}
    for before in values_before(session, instance_id, "rules", RULES_KEY, moment):
        for path, value in before.items():
            _undo_rule_change(documents, path, value)
    return RuleIndex(Rule(*(doc[name] for name in RULE_FIELDS)) for doc in documents.values())


def _undo_rule_change(documents: dict[str, dict[str, Any]], path: str, value: Any) -> None:
    """Put back one value of a :func:`rules_diff` path (``order`` changes no look-up)."""
    if not path.startswith("rules["):
        return
    if path.endswith("]"):
        rule_id = path[len("rules[") : -1]
        if value is None:
            documents.pop(rule_id, None)
        else:
            documents[rule_id] = dict(value)
        return
    rule_id, _, name = path[len("rules[") :].rpartition("].")
    if rule_id in documents and name in RULE_FIELDS:
        documents[rule_id][name] = value


def rules_view(rules: Iterable[Rule]) -> AuditRulesOut:
    return AuditRulesOut(rules=[rule.out() for rule in rules])


def get_rules(session: Session, instance_id: int) -> AuditRulesOut:
    return rules_view(load_rules(session, instance_id))


def _rows(instance_id: int, rules: Iterable[Rule]) -> list[dict[str, Any]]:
    return [
        {
            "instance_id": instance_id,
            "rule_id": rule.id,
            "consumption_code": rule.consumption_code,
            "naeringskode_prefix": rule.prefix,
            "plant_type": rule.plant_type,
            "inspection_area": rule.inspection_area,
            "risk_category_group": rule.risk_category_group,
            "inspection_rate": rule.inspection_rate,
            "description": rule.description,
        }
        for rule in rules
    ]


def seed_default_rules(session: Session, instance_id: int) -> None:
    """Give a new instance the default rule set (its starting state, so no history)."""
    rules = default_rules()
    if rules:
        session.execute(insert(AuditRule), _rows(instance_id, rules))


def _lock_instance(session: Session, instance_id: int) -> Instance:
    """Queue settings changes of one instance. ``FOR NO KEY UPDATE`` on PostgreSQL: the key
    share lock that every insert referencing the instance takes does not wait for it."""
    instance = session.scalar(
        select(Instance).where(Instance.id == instance_id).with_for_update(key_share=True)
    )
    if instance is None:
        raise NotFound("No such instance.")
    return instance


def replace_rules(session: Session, actor: Actor, rules: Sequence[Rule]) -> bool:
    """Replace the instance's whole rule set; False when it is the same already.

    The instance row is locked first, so concurrent replacements queue; the version bump
    tells every process's cache to recompile.
    """
    instance = _lock_instance(session, actor.instance_id)
    before = load_rules(session, actor.instance_id)
    after = list(rules)
    if before == after:
        return False
    session.execute(scoped_delete(AuditRule, actor.instance_id))
    if after:
        session.execute(insert(AuditRule), _rows(actor.instance_id, after))
    instance.rules_version = instance.rules_version + 1
    session.flush()
    session.info.setdefault(_CHANGED, set()).add(actor.instance_id)
    record_change(
        session,
        actor,
        entity_type="rules",
        entity_key=RULES_KEY,
        operation="replace",
        diff=rules_diff(before, after),
    )
    return True


def rules_diff(before: Sequence[Rule], after: Sequence[Rule]) -> dict[str, Any]:
    """``rules[<id>]`` for a rule added or removed, ``rules[<id>].<field>`` for a changed value."""
    old = {rule.id: rule.document() for rule in before}
    new = {rule.id: rule.document() for rule in after}
    diff: dict[str, Any] = {}
    for rule_id in [*new, *(rule_id for rule_id in old if rule_id not in new)]:
        was, now = old.get(rule_id), new.get(rule_id)
        if was is None or now is None:
            diff[f"rules[{rule_id}]"] = [was, now]
            continue
        for name in RULE_FIELDS:
            if was[name] != now[name]:
                diff[f"rules[{rule_id}].{name}"] = [was[name], now[name]]
    if not diff:
        diff["order"] = [[rule.id for rule in before], [rule.id for rule in after]]
    return diff


def put_rules(session: Session, actor: Actor, data: dict[str, Any]) -> Outcome[AuditRulesOut]:
    """Check a whole rule set and, if every rule is valid, put it in place of the old one."""
    rules, issues = parse_rule_set(data)
    if rules is None:
        raise InvalidBody(
            "The rules were not saved; see errors.", errors=issues.errors, warnings=issues.warnings
        )
    changed = replace_rules(session, actor, rules)
    return Outcome("updated" if changed else "unchanged", rules_view(rules), issues.warnings)


def reset_rules(session: Session, actor: Actor) -> bool:
    """Back to the default rule set."""
    return replace_rules(session, actor, default_rules())


# --- Explaining a derivation ---------------------------------------------------------------


@dataclass(frozen=True)
class Explanation:
    """Which rule gives one value to a plant, and why each other matching rule lost."""

    field: str
    value: Any
    winner: Rule | None
    losers: tuple[tuple[Rule, str], ...]


def explain(rules: Sequence[Rule], consumption_code: str, naeringskode: str) -> list[Explanation]:
    code = consumption_code.strip().lower()
    naeringskode = naeringskode.strip()
    found = RuleIndex(rules).lookup(code, naeringskode)
    explained = []
    for position, name in enumerate(AUDIT_FIELDS):
        winner = found[position]
        rivals = sorted(
            (
                rule
                for rule in rules
                if rule is not winner
                and rule.values[position] is not None
                and rule.matches(code, naeringskode)
            ),
            key=lambda rule: rule.specificity,
            reverse=True,
        )
        explained.append(
            Explanation(
                name,
                winner.values[position] if winner else None,
                winner,
                tuple((rule, _why_lost(rule, winner)) for rule in rivals) if winner else (),
            )
        )
    return explained


def _why_lost(loser: Rule, winner: Rule) -> str:
    if loser.specificity == winner.specificity:
        return "matches and is as specific, but comes later (a saved rule set has no such ties)"
    same_kind = loser.specificity[0] == winner.specificity[0]
    if same_kind and loser.prefix and winner.prefix:
        detail = f"prefix {loser.prefix} < {winner.prefix}"
    else:
        detail = f"{describe(loser)} < {describe(winner)}"
    return f"matches but is less specific ({detail})"


# --- The validation setting ----------------------------------------------------------------


def get_validation(session: Session, instance_id: int) -> ValidationSettingsOut:
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound("No such instance.")
    return ValidationSettingsOut(strictValidation=bool(instance.strict_validation))


def put_validation(
    session: Session, actor: Actor, data: dict[str, Any]
) -> Outcome[ValidationSettingsOut]:
    issues = Issues()
    body = read_model(ValidationSettingsIn, data, issues)
    if body is None or issues.errors:
        raise InvalidBody(
            "The setting was not saved; see errors.", errors=issues.errors, warnings=issues.warnings
        )
    instance = _lock_instance(session, actor.instance_id)
    before = bool(instance.strict_validation)
    view = ValidationSettingsOut(strictValidation=body.strictValidation)
    if before == body.strictValidation:
        return Outcome("unchanged", view, issues.warnings)
    instance.strict_validation = body.strictValidation
    session.flush()
    record_change(
        session,
        actor,
        entity_type="settings",
        entity_key="validation",
        operation="update",
        diff={"strictValidation": [before, body.strictValidation]},
    )
    return Outcome("updated", view, issues.warnings)
