"""SPEC §7, docs/rules.md: checking a rule set and choosing the most specific rule per value.

Pure functions, no database: precedence, prefix edges, ties, and hypothesis against a
brute-force oracle over random rule sets.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tilsyn.rules.service import (
    AUDIT_FIELDS,
    Rule,
    RuleIndex,
    audit_view,
    default_rules,
    describe,
    explain,
    parse_rule_set,
)


def rule(rule_id: str, code: str | None = None, prefix: str | None = None, **values: Any) -> Rule:
    return Rule(
        rule_id,
        consumption_code=code,
        prefix=prefix,
        plant_type=values.get("plantType"),
        inspection_area=values.get("inspectionArea"),
        risk_category_group=values.get("riskCategoryGroup"),
        inspection_rate=values.get("inspectionRate"),
    )


def winners(rules: list[Rule], code: str, naeringskode: str) -> list[str | None]:
    return [r.id if r else None for r in RuleIndex(rules).lookup(code, naeringskode)]


def parsed(*rules: dict[str, Any]) -> list[Rule]:
    result, issues = parse_rule_set({"rules": list(rules)})
    assert result is not None, issues.errors
    return result


def errors_of(*rules: Any) -> set[tuple[str, str]]:
    result, issues = parse_rule_set({"rules": list(rules)})
    assert result is None
    return {(issue.field, issue.code) for issue in issues.errors}


# --- precedence ------------------------------------------------------------------------------

LADDER = [
    rule("all", plantType="all", inspectionRate=1),
    rule("code", "35", plantType="code", inspectionRate=2),
    rule("p55", None, "55", plantType="p55"),
    rule("p55.1", None, "55.1", plantType="p55.1"),
    rule("code-p55", "35", "55", plantType="code-p55"),
    rule("code-p55.10", "35", "55.10", plantType="code-p55.10"),
]


@pytest.mark.parametrize(
    ("code", "naeringskode", "expected"),
    [
        ("35", "55.102", "code-p55.10"),  # code and the longest prefix
        ("35", "55.112", "code-p55"),  # code and a prefix beat a longer prefix alone
        ("23", "55.112", "p55.1"),  # then the longest prefix alone
        ("23", "55.201", "p55"),
        ("35", "86.101", "code"),  # then the code alone
        ("23", "86.101", "all"),  # then the catch-all
    ],
)
def test_precedence_ladder(code: str, naeringskode: str, expected: str) -> None:
    assert winners(LADDER, code, naeringskode)[0] == expected


def test_precedence_is_per_value() -> None:
    """A more specific rule that does not give a value leaves it to a less specific one."""
    assert winners(LADDER, "35", "55.102") == ["code-p55.10", None, None, "code"]
    assert winners(LADDER, "23", "55.102") == ["p55.1", None, None, "all"]


def test_order_of_rules_does_not_matter() -> None:
    for shuffled in (LADDER[::-1], LADDER[2:] + LADDER[:2]):
        for code, naeringskode in (("35", "55.102"), ("23", "55.112"), ("1", "01.110")):
            assert winners(shuffled, code, naeringskode) == winners(LADDER, code, naeringskode)


def test_no_rule_no_value() -> None:
    assert winners([], "35", "55.102") == [None] * 4
    assert winners([rule("x", "36", plantType="cabin")], "35", "55.102") == [None] * 4


def test_audit_view_explicit_beats_derived_per_value() -> None:
    found = RuleIndex(LADDER).lookup("35", "55.102")
    view = audit_view({"plantType": "Sent", "inspectionArea": None}, found)
    assert view == {
        "plantType": "Sent",
        "inspectionArea": None,
        "riskCategoryGroup": None,
        "inspectionRate": 2,
        "source": {
            "plantType": "explicit",
            "inspectionArea": None,
            "riskCategoryGroup": None,
            "inspectionRate": "rule:code",
        },
    }


# --- prefixes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "naeringskode", "matches"),
    [
        ("55", "55.102", True),
        ("55", "55.1", True),
        ("55", "56.101", False),
        ("55", "5.5102", False),
        ("55.1", "55.102", True),
        ("55.1", "55.110", True),
        ("55.1", "55.201", False),
        ("55.10", "55.102", True),
        ("55.10", "55.101", True),
        ("55.10", "55.10", True),
        ("55.10", "55.1", False),  # coded only to 55.1: not known to be in 55.10
        ("55.10", "55.112", False),
        ("55.102", "55.102", True),
        ("55.102", "55.101", False),
        ("55.102", "55.10", False),
    ],
)
def test_prefix_matches_whole_levels(prefix: str, naeringskode: str, matches: bool) -> None:
    rules = [rule("r", None, prefix, plantType="x")]
    assert (winners(rules, "23", naeringskode)[0] == "r") is matches
    assert rules[0].matches("23", naeringskode) is matches


def test_longest_prefix_wins_at_every_level() -> None:
    rules = [
        rule(f"p{prefix}", None, prefix, inspectionRate=len(prefix))
        for prefix in ("55", "55.1", "55.10", "55.102")
    ]
    assert winners(rules, "23", "55.102")[3] == "p55.102"
    assert winners(rules, "23", "55.101")[3] == "p55.10"
    assert winners(rules, "23", "55.110")[3] == "p55.1"
    assert winners(rules, "23", "55.201")[3] == "p55"


@pytest.mark.parametrize("prefix", ["55", "55.1", "55.10", "55.102", " 55.1 ", 55])
def test_prefixes_at_sn2007_levels_are_accepted(prefix: Any) -> None:
    (saved,) = parsed({"id": "r", "naeringskodePrefix": prefix, "plantType": "x"})
    assert saved.prefix == str(prefix).strip()


@pytest.mark.parametrize(
    ("prefix", "code"),
    [
        ("5", "naeringskode_prefix"),  # not a level: would span 50–59
        (5, "naeringskode_prefix"),
        ("55.", "naeringskode_prefix"),
        ("551", "naeringskode_prefix"),
        ("55.1023", "naeringskode_prefix"),
        ("55,1", "naeringskode_prefix"),
        ("I", "naeringskode_prefix"),
        (55.1, "prefix_type"),  # JSON 55.10 is the number 55.1: refused, not guessed
        (55.0, "prefix_type"),
        (True, "string_type"),
    ],
)
def test_prefixes_off_the_levels_are_rejected(prefix: Any, code: str) -> None:
    assert errors_of({"id": "r", "naeringskodePrefix": prefix, "plantType": "x"}) == {
        ("rules[0].naeringskodePrefix", code)
    }


def test_single_digit_prefix_message_says_why() -> None:
    _, issues = parse_rule_set(
        {"rules": [{"id": "r", "naeringskodePrefix": "5", "plantType": "x"}]}
    )
    assert "single digit" in issues.errors[0].message


# --- normalisation -----------------------------------------------------------------------------


def test_blank_and_star_mean_any_and_codes_are_normalised() -> None:
    saved = parsed(
        {"id": "a", "consumptionCode": "", "naeringskodePrefix": "*", "plantType": " X "},
        {"id": "b", "consumptionCode": " 1A ", "inspectionRate": "10"},
        {"id": "c", "consumptionCode": 35, "inspectionRate": 20.0},
    )
    assert saved[0] == Rule("a", plant_type="X")
    assert saved[1] == Rule("b", consumption_code="1a", inspection_rate=10)
    assert saved[2] == Rule("c", consumption_code="35", inspection_rate=20)


def test_property_names_match_case_insensitively() -> None:
    result, issues = parse_rule_set(
        {
            "RULES": [
                {"ID": "a", "ConsumptionCode": "35", "NAERINGSKODEPREFIX": "55", "plantTYPE": "x"}
            ]
        }
    )
    assert result == [Rule("a", "35", "55", plant_type="x")]
    assert not issues.warnings


def test_unknown_fields_are_warnings() -> None:
    result, issues = parse_rule_set({"rules": [{"id": "a", "plantType": "x", "inspectoinRate": 5}]})
    assert result is not None
    assert [(w.field, w.code) for w in issues.warnings] == [
        ("rules[0].inspectoinRate", "unknown_field")
    ]
    assert "inspectionRate" in issues.warnings[0].message


def test_unknown_consumption_code_is_a_warning() -> None:
    result, issues = parse_rule_set(
        {"rules": [{"id": "a", "consumptionCode": "99", "plantType": "x"}]}
    )
    assert result is not None
    assert [(w.field, w.code) for w in issues.warnings] == [
        ("rules[0].consumptionCode", "unknown_code")
    ]


# --- errors, every one of them -------------------------------------------------------------


def test_every_bad_rule_is_reported_with_index_and_field() -> None:
    assert errors_of(
        {"id": "ok", "plantType": "x"},
        {"id": "bad id", "plantType": "x"},
        {"plantType": "x"},
        {"id": "a", "inspectionRate": 0},
        {"id": "b", "inspectionRate": 101, "riskCategoryGroup": -1},
        {"id": "c", "inspectionArea": 2**31},
        {"id": "d"},
        {"id": "e", "plantType": "x" * 201},
        {"id": "f", "consumptionCode": "x" * 21, "plantType": "x"},
        "not an object",
        {"id": "OK", "plantType": "y", "consumptionCode": "35"},
        {"id": "g", "plantType": ["a list"]},
    ) == {
        ("rules[1].id", "rule_id"),
        ("rules[2].id", "missing"),
        ("rules[3].inspectionRate", "greater_than_equal"),
        ("rules[4].inspectionRate", "less_than_equal"),
        ("rules[4].riskCategoryGroup", "greater_than_equal"),
        ("rules[5].inspectionArea", "less_than_equal"),
        ("rules[6]", "no_values"),
        ("rules[7].plantType", "string_too_long"),
        ("rules[8].consumptionCode", "string_too_long"),
        ("rules[9]", "model_type"),
        ("rules[10].id", "duplicate_id"),
        ("rules[11].plantType", "string_type"),
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, ("rules", "missing")),
        ({"rules": None}, ("rules", "missing")),
        ({"rules": {"id": "a"}}, ("rules", "list_type")),
        ({"rules": "x"}, ("rules", "list_type")),
    ],
)
def test_the_body_must_hold_a_list_of_rules(body: dict[str, Any], error: tuple[str, str]) -> None:
    result, issues = parse_rule_set(body)
    assert result is None
    assert {(i.field, i.code) for i in issues.errors} == {error}


def test_an_empty_rule_set_is_valid() -> None:
    assert parsed() == []


def test_a_duplicate_id_is_reported_even_when_that_rule_has_other_errors() -> None:
    assert errors_of({"id": "a", "plantType": "x"}, {"id": "A", "inspectionRate": 0}) == {
        ("rules[1].id", "duplicate_id"),
        ("rules[1].inspectionRate", "greater_than_equal"),
    }


# --- ties ------------------------------------------------------------------------------------


def test_a_tie_names_both_rules_and_the_value() -> None:
    result, issues = parse_rule_set(
        {
            "rules": [
                {"id": "bolig", "consumptionCode": "35", "inspectionRate": 20},
                {"id": "annen", "consumptionCode": "35", "inspectionRate": 25, "plantType": "x"},
            ]
        }
    )
    assert result is None
    (error,) = issues.errors
    assert (error.field, error.code) == ("rules[1].inspectionRate", "tie")
    assert "rules[0] ('bolig')" in error.message
    assert "inspectionRate" in error.message
    assert "consumption code 35" in error.message


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            {"consumptionCode": "35", "naeringskodePrefix": "55"},
            {"consumptionCode": "35", "naeringskodePrefix": "55"},
        ),
        ({"naeringskodePrefix": "55.10"}, {"naeringskodePrefix": "55.10"}),
        ({"consumptionCode": "1A"}, {"consumptionCode": "1a"}),
        ({}, {"consumptionCode": "*", "naeringskodePrefix": ""}),
    ],
)
def test_equally_specific_rules_giving_one_value_tie(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    assert errors_of(
        {"id": "a", **first, "plantType": "x"}, {"id": "b", **second, "plantType": "y"}
    ) == {("rules[1].plantType", "tie")}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"consumptionCode": "35"}, {"consumptionCode": "36"}),
        ({"naeringskodePrefix": "55"}, {"naeringskodePrefix": "55.1"}),
        ({"naeringskodePrefix": "55.1"}, {"naeringskodePrefix": "55.10"}),
        ({"consumptionCode": "35", "naeringskodePrefix": "55"}, {"naeringskodePrefix": "55"}),
        ({"consumptionCode": "35"}, {"naeringskodePrefix": "55"}),
        ({}, {"consumptionCode": "35"}),
    ],
)
def test_rules_of_different_specificity_do_not_tie(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    parsed({"id": "a", **first, "plantType": "x"}, {"id": "b", **second, "plantType": "y"})


def test_one_scope_may_be_split_over_rules_giving_different_values() -> None:
    saved = parsed(
        {"id": "type", "consumptionCode": "35", "plantType": "Bolig"},
        {"id": "rate", "consumptionCode": "35", "inspectionRate": 20},
    )
    assert winners(saved, "35", "98.000") == ["type", None, None, "rate"]


# --- explain -----------------------------------------------------------------------------------


def test_explain_names_the_winner_and_why_the_others_lost() -> None:
    rules = [
        rule("bolig", "35", inspectionRate=20),
        rule("fem", None, "55", inspectionRate=5),
        rule("hotell", None, "55.1", inspectionRate=4),
        rule("alle", inspectionRate=10),
        rule("hytte", "36", inspectionRate=30),
    ]
    by_field = {item.field: item for item in explain(rules, "35", "55.102")}
    rate = by_field["inspectionRate"]
    assert rate.winner is not None
    assert rate.winner.id == "hotell"
    assert rate.value == 4
    assert [(loser.id, reason) for loser, reason in rate.losers] == [
        ("fem", "matches but is less specific (prefix 55 < 55.1)"),
        ("bolig", "matches but is less specific (consumption code 35 only < prefix 55.1)"),
        ("alle", "matches but is less specific (catch-all < prefix 55.1)"),
    ]
    assert by_field["plantType"].winner is None
    assert by_field["plantType"].losers == ()


def test_describe() -> None:
    assert describe(rule("a", "35", "55")) == "consumption code 35 and prefix 55"
    assert describe(rule("a", None, "55")) == "prefix 55"
    assert describe(rule("a", "35")) == "consumption code 35 only"
    assert describe(rule("a")) == "catch-all"


# --- the default rule set ------------------------------------------------------------------


def test_default_rules_are_valid_and_cover_every_plant() -> None:
    rules = list(default_rules())
    index = RuleIndex(rules)
    assert index.lookup("35", "98.000")[0] == next(r for r in rules if r.id == "husholdning")
    for code in ("1", "1a", "23", "29a", "35", "36", "99"):
        for naeringskode in ("01.110", "55.102", "85.201", "86.101", "87.101", "98.000"):
            found = index.lookup(code, naeringskode)
            assert found[0] is not None, (code, naeringskode)  # a catch-all gives plantType
            assert found[3] is not None


@pytest.mark.parametrize(
    ("code", "naeringskode", "plant_type", "rate"),
    [
        ("35", "98.000", "Bolighus/leiligheter", 20),
        ("36", "98.000", "Fritidsbolig/hytte", 30),
        ("1", "01.110", "Landbruk/gårdsbruk", 10),
        ("1a", "01.130", "Veksthus/drivhus", 10),
        ("29a", "84.110", "Gate-/veilys", 10),
        ("19", "47.110", "Virksomhet", 10),
        ("23", "55.102", "Overnattingsvirksomhet", 5),
        ("30", "85.201", "Skole/undervisning", 5),
        ("31", "86.101", "Helseinstitusjon", 5),
        ("31", "87.101", "Pleie-/omsorgsinstitusjon", 5),
    ],
)
def test_default_rules(code: str, naeringskode: str, plant_type: str, rate: int) -> None:
    found = RuleIndex(default_rules()).lookup(code, naeringskode)
    assert found[0] is not None
    assert found[0].plant_type == plant_type
    assert found[3] is not None
    assert found[3].inspection_rate == rate


# --- hypothesis: the index against a brute-force oracle -------------------------------------

CODES = ["1", "1a", "23", "35"]
PREFIX_TREE = ["55", "55.1", "55.10", "55.102", "55.11", "55.2", "56", "56.1"]
NAERINGSKODER = ["55.101", "55.102", "55.110", "55.201", "55.1", "55.10", "56.101", "01.110"]


def oracle_rank(candidate: Rule) -> tuple[bool, bool, int, bool]:
    """SPEC §7 in its own words: code and prefix, then prefix, then code, then catch-all;
    the longest prefix first within the first two."""
    has_code = candidate.consumption_code is not None
    has_prefix = candidate.prefix is not None
    return (has_code and has_prefix, has_prefix, len(candidate.prefix or ""), has_code)


def oracle(rules: list[Rule], code: str, naeringskode: str, position: int) -> list[Rule]:
    """Every matching rule that gives the value and is ranked highest: one, or a tie."""
    matching = [
        r
        for r in rules
        if r.values[position] is not None
        and (r.consumption_code in (None, code))
        and (r.prefix is None or naeringskode.startswith(r.prefix))
    ]
    if not matching:
        return []
    best = max(oracle_rank(r) for r in matching)
    return [r for r in matching if oracle_rank(r) == best]


@st.composite
def rule_sets(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(0, 14))
    rules = []
    for number in range(count):
        values = draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "plantType": st.sampled_from(["A", "B"]),
                    "inspectionArea": st.integers(0, 99),
                    "riskCategoryGroup": st.integers(1, 5),
                    "inspectionRate": st.integers(1, 40),
                },
            )
        )
        rules.append(
            {
                "id": f"r{number}",
                "consumptionCode": draw(st.sampled_from([None, *CODES])),
                "naeringskodePrefix": draw(st.sampled_from([None, *PREFIX_TREE])),
                **(values or {"plantType": "A"}),
            }
        )
    return rules


@settings(max_examples=400, deadline=None)
@given(rule_sets())
def test_saved_rule_sets_are_exactly_those_without_ambiguity(raw: list[dict[str, Any]]) -> None:
    """A set is rejected for a tie if and only if some plant would have two equally specific
    rules for one value; a saved set gives every plant the oracle's one best rule."""
    rules = [
        Rule(
            r["id"],
            r["consumptionCode"],
            r["naeringskodePrefix"],
            r.get("plantType"),
            r.get("inspectionArea"),
            r.get("riskCategoryGroup"),
            r.get("inspectionRate"),
        )
        for r in raw
    ]
    ambiguous = any(
        len(oracle(rules, code, naeringskode, position)) > 1
        for code in [*CODES, "36"]  # and a code no rule names
        for naeringskode in NAERINGSKODER + PREFIX_TREE
        for position in range(len(AUDIT_FIELDS))
    )
    saved, issues = parse_rule_set({"rules": raw})
    assert (saved is None) == ambiguous, issues.errors
    assert all(issue.code == "tie" for issue in issues.errors)
    if saved is None:
        return
    index = RuleIndex(saved)
    for code in [*CODES, "36"]:
        for naeringskode in NAERINGSKODER + PREFIX_TREE:
            found = index.lookup(code, naeringskode)
            for position in range(len(AUDIT_FIELDS)):
                best = oracle(saved, code, naeringskode, position)
                assert found[position] == (best[0] if best else None), (code, naeringskode)


@settings(max_examples=200, deadline=None)
@given(rule_sets(), st.sampled_from(CODES), st.sampled_from(NAERINGSKODER))
def test_lookup_never_fails_on_stored_ties(
    raw: list[dict[str, Any]], code: str, naeringskode: str
) -> None:
    """Rows stored around the checks (an old database) may tie: look-up still answers, with
    one of the best rules, the first given."""
    rules = [
        Rule(r["id"], r["consumptionCode"], r["naeringskodePrefix"], r.get("plantType"))
        for r in raw
        if r.get("plantType")
    ]
    (found, *_) = RuleIndex(rules).lookup(code, naeringskode)
    best = oracle(rules, code, naeringskode, 0)
    assert found == (best[0] if best else None)
