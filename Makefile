# The book's commands. Each sets itself up: a virtual environment in .venv with everything
# in requirements-dev.txt and this package installed in editable mode.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
BUILD  := _build
# The development copy of CIFAR-10 beside this repository, when there is one.
export CIFAR10_PATH ?= $(abspath $(wildcard ../shared/data/cifar10-jpg.zip))

.PHONY: help setup test lint book bench execute student clean

help:
	@echo "make book   build the HTML book from the stored notebook outputs -> $(BUILD)/html/index.html"
	@echo "make test   the whole test suite: lint, unit tests, notebooks (nbval, smoke profile),"
	@echo "            book build, student edition, real-browser test"
	@echo "make bench  run the benchmarks and print their tables"
	@echo "make execute [CHAPTER=book/x.ipynb]  re-run chapters with BOOK_PROFILE=cpu, stamp them"
	@echo "make student  the student edition (no solutions) -> $(BUILD)/student/src"
	@echo "make setup  only create .venv and install"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10+ is needed; run make PYTHON=python3.x")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements-dev.txt -e .
	touch $(STAMP)

setup: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check utils tests benchmarks tools

test: lint
	mkdir -p $(BUILD)
	$(BIN)/python -m pytest tests book --nbval-lax --junitxml=$(BUILD)/test-results.xml
	@echo "Test report: $(BUILD)/test-results.xml"

book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "Book built: open $(BUILD)/html/index.html"

bench: $(STAMP)
	$(BIN)/python benchmarks/data_pipeline.py
	$(BIN)/python benchmarks/lr_finder.py
	$(BIN)/python benchmarks/train_loop.py

execute: $(STAMP)
	BOOK_PROFILE=$(or $(PROFILE),cpu) $(BIN)/python tools/execute.py $(CHAPTER)

student: $(STAMP)
	$(BIN)/python tools/student.py

clean:
	rm -rf $(BUILD)
