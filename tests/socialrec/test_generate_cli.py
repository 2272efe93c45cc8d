"""``socialrec generate``: writes the tables, refuses to overwrite, reports bad knobs."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from socialrec.commands import generate as generate_command

TABLE_FILES = ("users.csv", "items.csv", "friendships.csv", "interactions.csv")


def _cli() -> typer.Typer:
    app = typer.Typer()
    generate_command.register(app)

    @app.callback()
    def main() -> None:
        """Test app."""

    return app


def test_cli_generates_and_reports_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "world"
    args = ["generate", str(out), "--users", "300", "--items", "100", "--seed", "2"]
    result = runner.invoke(_cli(), [*args, "--corrupt-fraction", "0.01"])
    assert result.exit_code == 0, result.output
    assert all((out / name).is_file() for name in TABLE_FILES)
    assert "socially induced" in result.output

    again = runner.invoke(_cli(), args)
    assert again.exit_code == 1 and "--force" in again.output
    bad = runner.invoke(_cli(), ["generate", str(tmp_path / "x"), "--users", "1"])
    assert bad.exit_code == 1 and "num_users must be >= 2, got 1" in bad.output
