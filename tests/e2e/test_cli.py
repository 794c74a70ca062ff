"""The `catalogue` command as a user runs it: one-line errors and non-zero exits, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalogue.revisions import head_revision

ROOT = Path(__file__).resolve().parents[2]


def catalogue(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CATALOGUE_")}
    return subprocess.run(
        [sys.executable, "-m", "catalogue", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("postgresql://postgres@127.0.0.1:1/nowhere", "cannot reach the database"),
        ("nonsense", "not a database URL"),
        ("mysql://root@127.0.0.1/x", "unsupported database"),
    ],
)
def test_database_url_that_points_nowhere(tmp_path, url, fragment):
    result = catalogue("db", "upgrade", cwd=tmp_path, CATALOGUE_DATABASE_URL=url)
    assert_one_line_error(result, fragment)


def test_invalid_setting_is_named(tmp_path):
    result = catalogue("db", "current", cwd=tmp_path, CATALOGUE_PORT="eighty")
    assert_one_line_error(result, "setting port")


def test_upgrade_then_status_then_rebuild_on_the_embedded_default(tmp_path):
    refused = catalogue("projections", "status", cwd=tmp_path)
    assert_one_line_error(refused, "run `catalogue db upgrade`")
    upgraded = catalogue("db", "upgrade", cwd=tmp_path)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "var" / "catalogue.db").exists()
    assert f"database at revision {head_revision()}" in upgraded.stdout
    status = catalogue("projections", "status", cwd=tmp_path)
    assert status.returncode == 0
    assert "stream_summaries" in status.stdout
    rebuilt = catalogue("projections", "rebuild", "stream_summaries", cwd=tmp_path)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilt stream_summaries to position 0" in rebuilt.stdout
    unknown = catalogue("projections", "rebuild", "nope", cwd=tmp_path)
    assert_one_line_error(unknown, "no projection named 'nope'")


def test_settings_come_from_catalogue_toml(tmp_path):
    (tmp_path / "catalogue.toml").write_text(f'database_url = "sqlite:///{tmp_path}/other.db"\n')
    assert catalogue("db", "upgrade", cwd=tmp_path).returncode == 0
    assert (tmp_path / "other.db").exists()
    (tmp_path / "catalogue.toml").write_text("no_such_setting = 1\n")
    assert_one_line_error(catalogue("db", "current", cwd=tmp_path), "no_such_setting")


def test_usage_errors_exit_2_without_traceback(tmp_path):
    result = catalogue("projections", "rebuild", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_upgrade_to_an_unknown_revision_is_one_line(tmp_path):
    assert_one_line_error(
        catalogue("db", "upgrade", "bogus", cwd=tmp_path), "cannot upgrade to 'bogus'"
    )


def test_malformed_catalogue_toml_is_one_line(tmp_path):
    (tmp_path / "catalogue.toml").write_text("database_url = [unclosed\n")
    assert_one_line_error(catalogue("db", "current", cwd=tmp_path), "not valid TOML")


def test_uncreatable_sqlite_directory_is_one_line(tmp_path):
    (tmp_path / "afile").write_text("")
    result = catalogue(
        "db", "upgrade", cwd=tmp_path, CATALOGUE_DATABASE_URL=f"sqlite:///{tmp_path}/afile/x/c.db"
    )
    assert_one_line_error(result, "cannot create the directory")
