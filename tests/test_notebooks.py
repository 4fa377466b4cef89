"""Notebook house rules (thin, parameterized, committed clean) and a papermill run."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from aifinops.report import COMMON_PARAMETERS

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
MAX_LINES = 15


def _code(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS if not p.name.startswith("00_")][:1] == ["01_ingest_data_quality.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_house_rules(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    for word in ("Purpose", "Parameters", "Sections"):
        assert word in first.source, f"header lacks {word}"
    code = _code(nb)
    params = [c for c in code if "parameters" in _tags(c)]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    for i, cell in enumerate(code):
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, "commit without outputs"
        tree = ast.parse(cell.source)
        assert not [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                   ast.ClassDef, ast.Lambda))], \
            f"cell {i}: logic belongs in the package"
        if i > 0:
            assert not [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))], \
                f"cell {i}: imports go in the first code cell"
        if "parameters" not in _tags(cell):  # a parameters cell lists every input, one per line
            assert len(cell.source.splitlines()) <= MAX_LINES, f"cell {i} is longer than {MAX_LINES} lines"
    # the parameters cell: typed literal assignments with a comment each
    for stmt in ast.parse(params[0].source).body:
        assert isinstance(stmt, ast.AnnAssign), ast.dump(stmt)
        ast.literal_eval(stmt.value)
    for line in params[0].source.splitlines()[1:]:
        assert "  # " in line, f"uncommented parameter: {line}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_are_the_common_ones(path):
    declared = pm.inspect_notebook(str(path))
    assert set(COMMON_PARAMETERS) <= set(declared), set(COMMON_PARAMETERS) - set(declared)
    assert all(p["inferred_type_name"] != "None" for p in declared.values())


def test_readme_indexes_every_notebook():
    text = (REPO / "notebooks" / "README.md").read_text(encoding="utf-8")
    for p in NOTEBOOKS:
        assert f"]({p.name})" in text, p.name


@pytest.mark.slow
def test_notebook_01_runs_on_its_own(tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    (exports / "f.csv").write_text(
        "BilledCost,ChargePeriodStart,BillingCurrency,ChargeCategory,ProviderName,ServiceName\n"
        "1.25,2025-03-02,USD,Usage,AWS,Amazon EC2\n2.5,2025-03-03,USD,Usage,OpenAI,GPT-4o\n"
        "x,2025-03-03,USD,Usage,OpenAI,GPT-4o\n", encoding="utf-8")
    out = tmp_path / "out.ipynb"
    pm.execute_notebook(str(REPO / "notebooks" / "01_ingest_data_quality.ipynb"), str(out),
                        parameters={"inputs": str(exports)}, kernel_name="python3", progress_bar=False,
                        cwd=str(REPO / "notebooks"))
    nb = nbformat.read(out, as_version=4)
    outputs = [o for c in _code(nb) for o in c.get("outputs", [])]
    assert not [o for o in outputs if o["output_type"] == "error"]
    text = "\n".join(str(o.get("data", {}).get("text/markdown", "")) + str(o.get("data", {}).get("text/html", ""))
                     for o in outputs)
    assert "**Billing period:** 2025-03" in text
    assert "All 1 source files reconcile exactly" in text
    assert "1 row quarantined in 1 file." in text
    assert "BillingAccountId" in text  # defaulted column shown
    assert "aifinops-chart" in text and "vegaEmbed" in text
