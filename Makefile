# vlmeval: developer entry points. `make install && make test` is the CPU quick start.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install test test-gpu lint bench train-tiny-vlm

install: $(BIN)/vlmeval

$(BIN)/vlmeval: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

test: install
	$(BIN)/pytest -q

test-gpu: install
	$(BIN)/python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'make test-gpu needs a CUDA GPU: none is visible (start the container with --gpus all)')"
	$(BIN)/pytest -q -m gpu -p no:cacheprovider

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python benchmarks/launcher_startup.py

train-tiny-vlm: install
	$(BIN)/python scripts/train_tiny_vlm.py
