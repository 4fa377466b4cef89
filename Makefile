# aifinops — the two commands: `make report` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: report test test-fast install clean benchmarks

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

## Full report bundle from data_samples/ into reports/
report: $(STAMP)
	$(BIN)/aifinops report --config templates/report.yaml

## Everything: unit tests, notebooks through papermill and nbval-lax, LibreOffice, Chromium and JupyterLab checks
test: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider
	$(BIN)/python -m pytest -p no:cacheprovider --nbval-lax notebooks

## Unit tests only (no slow tier)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -m "not slow"

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/ingest.py --rows 1000000 --format cur2-parquet

clean:
	rm -rf $(VENV) reports .pytest_cache
