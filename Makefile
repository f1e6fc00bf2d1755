# vlmeval: developer entry points. `make install && make test` is the CPU quick start.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
# The tests run with the venv when there is one, else with the python3 on PATH
# (the image's, or a GPU machine's that already has the dependencies).
PY := $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
export PYTHONPATH := $(CURDIR)/src:$(CURDIR)/entrypoint

.PHONY: install test test-gpu lint demo bench train-tiny-vlm

install: $(BIN)/vlmeval

$(BIN)/vlmeval: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

test: install
	$(BIN)/pytest -q

# GPU-marked tests on a real CUDA GPU: fails, never skips, when none is visible.
test-gpu:
	@$(PY) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'make test-gpu: no CUDA GPU is visible (run the container with --gpus all)')"
	$(PY) -m pytest -q -m gpu -p no:cacheprovider

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The bundled tiny-vlm on the bundled Shapes benchmark, two CPU ranks.
demo: install
	$(BIN)/vlmeval eval --device cpu --nproc 2 --model tiny-vlm \
		--data ShapesMCQ --data ShapesYN --data ShapesVQA \
		--data-dir data --output outputs --run-name demo
	@cat outputs/tiny-vlm/demo/summary.md

# Throughput (benchmarks/throughput.py: the CPU setup, and the GPU setup when a GPU is
# visible) and launcher start-up; results are written under benchmarks/results/.
bench: install
	$(BIN)/python benchmarks/launcher_startup.py
	$(BIN)/python benchmarks/throughput.py --setup cpu
	@if $(PY) -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then \
		$(PY) benchmarks/throughput.py --setup gpu; \
	else echo "bench: no CUDA GPU visible, GPU setup not run"; fi

train-tiny-vlm: install
	$(BIN)/python scripts/train_tiny_vlm.py
