"""``socialrec load`` and ``socialrec export`` on a small input directory: rejects reported,
unknown files warned about (refused with ``--strict``), UTF-16 input refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from serving.settings import get_settings
from socialrec.commands import ingest
from tests.graph.small_world import write_small_world


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return write_small_world(tmp_path / "world")


def test_cli_load_and_export(world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = typer.Typer()
    ingest.register(app)
    monkeypatch.setenv("SOCIALREC_WORK_DIR", str(tmp_path / "run"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        loaded = runner.invoke(app, ["load", str(world), "--batch-size", "2"])
        assert loaded.exit_code == 0, loaded.output
        assert "rejected rows: 4" in loaded.output
        assert (tmp_path / "run" / "load_report" / "rejects.csv").is_file()
        exported = runner.invoke(app, ["export", "--out", str(tmp_path / "snap")])
        assert exported.exit_code == 0, exported.output
        assert (tmp_path / "snap" / "meta.json").is_file()
        missing = runner.invoke(app, ["load", str(tmp_path / "nowhere")])
        assert missing.exit_code == 1
        assert "does not exist" in missing.output
        bad_store = runner.invoke(app, ["export", "--store", "oracle"])
        assert bad_store.exit_code == 1
        assert "--store oracle" in bad_store.output
    finally:
        get_settings.cache_clear()


def test_cli_warns_of_unknown_files_and_refuses_utf16(
    world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = typer.Typer()
    ingest.register(app)
    monkeypatch.setenv("SOCIALREC_WORK_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("COLUMNS", "300")
    get_settings.cache_clear()
    (world / "interaction.csv").write_text("user_id,item_id,kind\nu1,i1,view\n", encoding="utf-8")
    try:
        runner = CliRunner()
        loaded = runner.invoke(app, ["load", str(world)])
        assert loaded.exit_code == 0, loaded.output
        assert "warning: ignored interaction.csv" in loaded.output
        assert "expected users.csv, users.parquet, items.csv" in loaded.output
        strict = runner.invoke(app, ["load", str(world), "--strict"])
        assert strict.exit_code == 1
        assert "interaction.csv is not a table file" in strict.output
        (world / "interaction.csv").unlink()
        (world / "users.csv").write_text("user_id,region\nu9,eu\n", encoding="utf-16")
        utf16 = runner.invoke(app, ["load", str(world)])
        assert utf16.exit_code == 1
        assert "users.csv: the file is UTF-16" in utf16.output and "\x00" not in utf16.output
        (world / "users.csv").write_bytes("user_id\nu9\n".encode("utf-16-le"))
        no_bom = runner.invoke(app, ["load", str(world)])
        assert no_bom.exit_code == 1 and "are NUL, so it is not UTF-8" in no_bom.output
    finally:
        get_settings.cache_clear()
