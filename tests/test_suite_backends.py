"""README's test command runs where only Python and pip are, and never skips silently in CI.

Each case runs pytest in a subprocess on tests/backend_cases.py (two tiny tests: one on every
backend, one PostgreSQL-only) with the environment of a newcomer's machine, of CI, or of a
developer with a local PostgreSQL. A closed port stands for "no PostgreSQL here".
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
VARIABLES = (
    "TILSYN_TEST_POSTGRES_URL",
    "TILSYN_TEST_POSTGRES_PROBE",
    "TILSYN_TEST_REQUIRE_POSTGRES",
)


def run_cases(**variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(variables)
    # Without the plugins these cases do not use: less to start in each child.
    command = [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider"]
    # Nor coverage: the child shares the checkout's .coverage. Its start would erase the data
    # file and its finish would combine the .coverage.* files of xdist workers that had already
    # finished, so the next child's start erased their lines (the suite's figure then depended
    # on which worker finished when).
    command += ["--no-cov"]
    command += ["-p", "no:schemathesis", "-p", "no:hypothesispytest"]
    command += ["tests/backend_cases.py"]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_without_postgresql_its_tests_are_left_out_with_one_line_saying_how() -> None:
    done = run_cases(TILSYN_TEST_POSTGRES_PROBE=f"127.0.0.1:{free_port()}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 deselected" in done.stdout
    lines = [line for line in done.stdout.splitlines() if "PostgreSQL" in line]
    assert len(lines) == 1, done.stdout
    assert lines[0].startswith("1 PostgreSQL tests not run (no PostgreSQL answered")
    assert "set TILSYN_TEST_POSTGRES_URL=" in lines[0]
    assert "skipped" not in done.stdout


def test_required_postgresql_that_is_missing_fails_the_run() -> None:
    closed = f"127.0.0.1:{free_port()}"
    probed = run_cases(TILSYN_TEST_POSTGRES_PROBE=closed, TILSYN_TEST_REQUIRE_POSTGRES="1")
    assert probed.returncode == 4
    assert "TILSYN_TEST_REQUIRE_POSTGRES=1, but no PostgreSQL answered" in probed.stdout
    configured = run_cases(
        TILSYN_TEST_POSTGRES_URL=f"postgresql+psycopg://postgres@{closed}/test",
        TILSYN_TEST_REQUIRE_POSTGRES="1",
    )
    assert configured.returncode == 4
    assert f"but postgresql://postgres@{closed}/test does not answer" in configured.stdout


def test_a_local_postgresql_is_found_without_configuration(postgres_database_url: str) -> None:
    """Runs where the suite has PostgreSQL (always in CI); the child finds it by probing."""
    url = make_url(postgres_database_url)
    probe = f"{url.host or '127.0.0.1'}:{url.port or 5432}"
    done = run_cases(TILSYN_TEST_POSTGRES_PROBE=probe, TILSYN_TEST_REQUIRE_POSTGRES="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    assert "skipped" not in done.stdout
