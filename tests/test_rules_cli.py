"""`tilsyn rules export | import | explain | reset`, in-process, on each database."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from tests.seed_api import history
from tilsyn.cli import app
from tilsyn.core.db import Database
from tilsyn.core.models import Instance
from tilsyn.rules.service import Rule, default_rules, load_rules

runner = CliRunner()


def invoke(db_url: str, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--db", db_url, *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def db_url(database_url: str) -> str:
    code, _, err = invoke(database_url, "instance", "create", "nett", "--environment", "test")
    assert code == 0, err
    return database_url


def stored_rules(db_url: str) -> tuple[list[Rule], int]:
    database = Database(db_url)
    try:
        with database.read() as session:
            instance = session.scalars(select(Instance).where(Instance.name == "nett")).one()
            return load_rules(session, instance.id), instance.rules_version
    finally:
        database.dispose()


def rule_history(db_url: str) -> list[tuple[str, str]]:
    database = Database(db_url)
    try:
        with database.read() as session:
            instance_id = session.scalars(select(Instance.id).where(Instance.name == "nett")).one()
        rows = history(database, instance_id)
        return [(row.entity_type, row.operation) for row in rows if row.entity_type == "rules"]
    finally:
        database.dispose()


GOOD_YAML = """\
# hand-written
rules:
  - id: bolig
    consumptionCode: "35"
    plantType: Bolighus/leiligheter
    inspectionRate: 20
  - id: hotell
    naeringskodePrefix: "55.10"
    plantType: Hotell
    inspectionRate: 5
  - id: alle
    plantType: Virksomhet
"""

GOOD_CSV = """\
id,consumptionCode,naeringskodePrefix,plantType,inspectionArea,riskCategoryGroup,inspectionRate,description
bolig,35,,Bolighus/leiligheter,,,20,
hotell,,55.10,Hotell,,,5,"Hoteller, moteller"
alle,,,Virksomhet,,,,
"""


def test_export_yaml_is_the_default_set_and_reads_back(db_url: str) -> None:
    code, out, err = invoke(db_url, "rules", "export", "nett")
    assert code == 0, err
    assert out.startswith("# Audit rules of instance nett")
    document = yaml.safe_load(out)
    assert [rule["id"] for rule in document["rules"]] == [r.id for r in default_rules()]
    assert document["rules"][0]["consumptionCode"] == "35"  # text, as written to a file


def test_export_then_import_changes_nothing(db_url: str, tmp_path: Path) -> None:
    for kind in ("yaml", "csv"):
        code, out, _ = invoke(db_url, "rules", "export", "nett", "--format", kind)
        assert code == 0
        path = tmp_path / f"rules.{kind}"
        path.write_text(out, encoding="utf-8")
        code, _, err = invoke(db_url, "rules", "import", "nett", str(path))
        assert code == 0, err
        assert "nothing changed" in err
    assert stored_rules(db_url) == (list(default_rules()), 0)


@pytest.mark.parametrize(("name", "text"), [("rules.yaml", GOOD_YAML), ("rules.csv", GOOD_CSV)])
def test_import_replaces_the_rules(db_url: str, tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code, _, err = invoke(db_url, "rules", "import", "nett", str(path))
    assert code == 0, err
    assert "replaced the rules of nett with the 3 rules" in err
    rules, version = stored_rules(db_url)
    assert [(r.id, r.consumption_code, r.prefix, r.inspection_rate) for r in rules] == [
        ("bolig", "35", None, 20),
        ("hotell", None, "55.10", 5),
        ("alle", None, None, None),
    ]
    assert version == 1
    code, out, _ = invoke(db_url, "rules", "export", "nett", "-f", "csv")
    assert out.splitlines()[2].startswith("hotell,,55.10,Hotell")


def test_excel_semicolon_csv(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.csv"
    path.write_text(
        "\ufeffID;ConsumptionCode;plantType;inspectionRate\n# a comment\nbolig;35;Bolig;20\n\n",
        encoding="utf-8",
    )
    code, _, err = invoke(db_url, "rules", "import", "nett", str(path))
    assert code == 0, err
    assert stored_rules(db_url)[0] == [
        Rule("bolig", consumption_code="35", plant_type="Bolig", inspection_rate=20)
    ]


BAD_YAML = """\
rules:
  - id: bolig
    consumptionCode: "35"
    inspectionRate: 20
  - id: annen
    consumptionCode: 35
    inspectionRate: 25
  - id: hotell
    naeringskodePrefix: 55.10
    plantType: Hotell
  - id: fem
    naeringskodePrefix: "5"
    plantType: x
  - id: skrivefeil
    plantType: x
    inspectoinRate: 3
  - bare tekst
  - id: bolig
    inspectionRate: 500
"""


def test_import_reports_every_bad_rule_by_line_and_changes_nothing(
    db_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BAD_YAML, encoding="utf-8")
    code, out, err = invoke(db_url, "rules", "import", "nett", str(path))
    assert code == 1
    assert out == ""
    lines = [
        line.removeprefix(f"{path}:") for line in err.splitlines() if line.startswith(str(path))
    ]
    assert lines == [
        "7: error: rule 'annen', inspectionRate: the rule on line 2 ('bolig') also gives "
        "inspectionRate for consumption code 35 and any næringskode; equally specific rules "
        "would be ambiguous, so give it in one of them only",
        "9: error: rule 'hotell', naeringskodePrefix: must be text: as a number it loses "
        "trailing zeros (55.10 reads as 55.1); quote it",
        "12: error: rule 'fem', naeringskodePrefix: a single digit is not an SN2007 level; "
        "use the two-digit næring (such as 55)",
        "16: error: rule 'skrivefeil', inspectoinRate: is not a known field; did you mean "
        "'inspectionRate'?",
        "17: error: a rule must be a mapping of field: value",
        "18: error: rule 'bolig', id: 'bolig' is also the id of the rule on line 2",
        "19: error: rule 'bolig', inspectionRate: must be at most 100",
    ]
    assert "7 problems" in err
    assert "nothing was changed" in err
    assert stored_rules(db_url) == (list(default_rules()), 0)


def test_import_csv_errors_name_their_lines(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.csv"
    path.write_text(
        "id,consumptionCode,plantType,inspectionRate\n"
        "bolig,35,Bolig,20\n"
        '"multi\nline",35,x,\n'
        "ok,36,Hytte,0\n"
        "x,1,y,2,extra\n",
        encoding="utf-8",
    )
    code, _, err = invoke(db_url, "rules", "import", "nett", str(path))
    assert code == 1
    assert f"{path}:3: error: rule 'multi\nline', id: must be" in err
    assert f"{path}:5: error: rule 'ok', inspectionRate: must be at least 1" in err
    assert f"{path}:6: error: has 5 cells but the header names 4 columns" in err


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("r.csv", "id,plantTyp\nx,y\n", "1: error: unknown column 'plantTyp'"),
        ("r.csv", "plantType\nx\n", "1: error: the header has no 'id' column"),
        ("r.csv", "", "1: error: the file is empty"),
        ("r.yaml", "", "1: error: the file holds no rules"),
        ("r.yaml", "rules: [\n  {id: a,\n", "error: not valid YAML"),
        ("r.yaml", "rule:\n  - id: a\n", "1: error: unknown top-level key 'rule'"),
        ("r.yaml", "rules: {id: a}\n", "1: error: 'rules' must be a list of rules"),
    ],
)
def test_import_file_errors(
    db_url: str, tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code, _, err = invoke(db_url, "rules", "import", "nett", str(path))
    assert code == 1
    assert message in err


def test_import_needs_a_known_format_and_instance(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.txt"
    path.write_text(GOOD_YAML, encoding="utf-8")
    code, _, err = invoke(db_url, "rules", "import", "nett", str(path))
    assert code == 1
    assert ".csv, .yaml or .yml" in err
    yaml_path = tmp_path / "rules.yml"
    yaml_path.write_text(GOOD_YAML, encoding="utf-8")
    code, _, err = invoke(db_url, "rules", "import", "missing", str(yaml_path))
    assert code == 1
    assert "no instance named 'missing'" in err
    code, _, err = invoke(db_url, "rules", "import", "nett", str(tmp_path / "absent.yaml"))
    assert code == 1
    assert "cannot be read" in err


def test_explain(db_url: str) -> None:
    code, out, err = invoke(
        db_url, "rules", "explain", "nett", "--consumption-code", "35", "--naeringskode", "55.102"
    )
    assert code == 0, err
    assert out.splitlines() == [
        "consumption code 35, næringskode 55.102 (10 rules in nett)",
        "plantType: 'Overnattingsvirksomhet'  from rule:overnatting (prefix 55)",
        "  rule:husholdning matches but is less specific (consumption code 35 only < prefix 55)",
        "  rule:virksomhet matches but is less specific (catch-all < prefix 55)",
        "inspectionArea: null (no rule gives it)",
        "riskCategoryGroup: 4  from rule:overnatting (prefix 55)",
        "  rule:husholdning matches but is less specific (consumption code 35 only < prefix 55)",
        "  rule:virksomhet matches but is less specific (catch-all < prefix 55)",
        "inspectionRate: 5  from rule:overnatting (prefix 55)",
        "  rule:husholdning matches but is less specific (consumption code 35 only < prefix 55)",
        "  rule:virksomhet matches but is less specific (catch-all < prefix 55)",
    ]


def test_explain_a_plant_no_rule_covers(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules: []\n", encoding="utf-8")
    assert invoke(db_url, "rules", "import", "nett", str(path))[0] == 0
    code, out, _ = invoke(db_url, "rules", "explain", "nett", "-c", "35", "-n", "98.000")
    assert code == 0
    assert "no rule covers such a plant" in out


def test_reset_goes_back_to_the_default_rules(db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD_YAML, encoding="utf-8")
    assert invoke(db_url, "rules", "import", "nett", str(path))[0] == 0
    code, _, err = invoke(db_url, "rules", "reset", "nett")
    assert code == 0, err
    assert "now the 10 default rules" in err
    assert stored_rules(db_url) == (list(default_rules()), 2)
    code, _, err = invoke(db_url, "rules", "reset", "nett")
    assert "already the 10 default rules" in err
    assert stored_rules(db_url)[1] == 2
    assert rule_history(db_url) == [("rules", "replace"), ("rules", "replace")]
