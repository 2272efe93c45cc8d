"""The research notebooks execute top to bottom on their default (small, synthetic) data."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_notebooks_exist() -> None:
    names = {p.stem for p in NOTEBOOKS}
    assert {
        "01_data_exploration",
        "02_lightgcn_vs_social",
        "03_campaign_planning",
        "04_experiment",
    } <= names


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_is_stored_without_outputs(path: Path, tmp_path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    stored_outputs = [c for c in notebook.cells if c.cell_type == "code" and c.outputs]
    assert not stored_outputs, f"{path.name} is stored with outputs; clear them before committing"
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": path.parent}}
    )
    # The notebooks' scratch directories (tempfile.mkdtemp) go under pytest's tmp_path.
    client.execute(env={**os.environ, "TMPDIR": str(tmp_path)})  # raises CellExecutionError
    if "matplotlib" in "".join(c.source for c in notebook.cells):
        figures = [
            o
            for c in notebook.cells
            if c.cell_type == "code"
            for o in c.outputs
            if "image/png" in o.get("data", {})
        ]
        assert figures, f"{path.name} draws plots but none was displayed"
