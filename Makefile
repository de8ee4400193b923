# Two commands for a newcomer: `make demo` (the whole method on the embedded default, offline, on a CPU) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# The CPU build of torch. Install it before anything else: an unpinned torch resolves to a multi-GB CUDA build.
TORCH  ?= torch==2.13.0

.PHONY: install test mutants docs-check demo ablation clean

$(BIN)/ernie-m: pyproject.toml
	@echo "== installing into $(VENV): $(TORCH) first (the CPU build), then ernie-m and its dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --disable-pip-version-check "$(TORCH)"
	$(BIN)/pip install --disable-pip-version-check -e ".[test]"
	touch $@

install: $(BIN)/ernie-m

test: install
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -q
	@echo "== as on a user's clone, without the team's ../shared/data: its tests skip, the others pass"
	ERNIE_M_SHARED_DATA=.no-shared-data $(BIN)/python -m pytest -q tests/integration/test_evaluate.py tests/integration/test_readers_real_data.py

# Realistic bugs in the objectives, masking, packing and the model, one at a time: each must fail a test (about 2 minutes).
mutants: install
	$(BIN)/python tests/mutants.py

# Every README/docs block marked `<!-- docs-check -->`, run as written on small stand-ins in a scratch folder (about 3 minutes).
docs-check: install
	$(BIN)/python tests/docs_check.py

# Run again after an interruption: the corpus, tokenizer and base are reused and training continues from its last checkpoint.
# Real sentences and a downstream task as further measures: make demo ARGS="--xnli DIR --tatoeba DIR --conll DIR"
demo: install
	$(BIN)/ernie-m demo --out runs/demo $(ARGS)

# The paper's ablation at small scale: a base per seed, five arms from it, three seeds; resumable in the same way.
ablation: install
	$(BIN)/ernie-m ablation --out runs/ablation $(ARGS)

clean:
	rm -rf $(VENV) runs build src/*.egg-info
