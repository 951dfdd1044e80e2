"""The quick-start notebook runs as it is (its offline cells), so it never goes stale."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a Jupyter kernel: `pytest -m "not slow"` leaves it out

NOTEBOOK = "examples/quickstart.ipynb"


def test_quickstart_notebook_runs(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    path = Path(__file__).resolve().parents[2] / NOTEBOOK
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "outputs are stripped"
    notebook.cells = [cell for cell in notebook.cells if "online" not in cell.metadata.get("tags", [])]
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    assert "processing/cascade/ophys_DfOverF_DfOverF" in printed and "TsdFrame" in printed and "TsGroup" in printed
    assert (tmp_path / "quickstart" / "session.cascade.nwb").is_file()
    # the figure shows inline: the library leaves matplotlib's backend to Jupyter
    plot_cell = next(cell for cell in notebook.cells if "plot_results" in cell.source)
    assert any("image/png" in output.get("data", {}) for output in plot_cell.outputs), plot_cell.outputs
