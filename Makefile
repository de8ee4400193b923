# Two commands for a newcomer: `make pretrain` (a short run on the embedded default) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build of torch. Install it before anything else: an unpinned torch resolves to a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: install test pretrain clean

$(BIN)/ernie-m: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/ernie-m

test: install
	$(BIN)/python -m pytest -q

# A second `make pretrain` continues (or, once finished, re-exports) the run instead of refusing its folder.
pretrain: install
	$(BIN)/ernie-m pretrain $(if $(wildcard runs/tiny/run.yaml),--resume,--config configs/tiny.yaml) --out runs/tiny

clean:
	rm -rf $(VENV) runs build src/*.egg-info
