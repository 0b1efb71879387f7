"""Execute the student notebooks top to bottom (offscreen, static 3D views)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("PYVISTA_OFF_SCREEN", "true")
    monkeypatch.setenv("TWIN_NOTEBOOK_BACKEND", "static")
    monkeypatch.setenv("TWIN_NOTEBOOK_BUILDINGS", "1500")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the demo database lands under tmp_path
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    try:
        client.execute()
    finally:
        nbformat.write(nb, tmp_path / path.name)  # the executed copy, to look at after a failure
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors
    # the 3D views produced pictures, the chart a figure
    images = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if {"image/png", "image/jpeg"} & set(out.get("data", {}))
    ]
    assert len(images) >= 3, f"expected 3D views and a chart, got {len(images)} images"
    assert not list(tmp_path.glob("twin-*")), "the notebook left its temporary database behind"
