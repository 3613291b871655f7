# fa-mlir: the two commands of README.md, and the steps they are made of.
#
#   make demo    set up, build, and run the bundled example through every stage
#   make check   set up, build, and run every test
#
# Every target installs what it needs first (scripts/setup.sh, apt-get,
# idempotent) and configures the build directory once.

BUILD_DIR ?= build
JOBS ?= 2
MLIR_DIR ?= /usr/lib/llvm-22/lib/cmake/mlir
LIT ?= /usr/lib/llvm-22/bin/lit
PYTHON ?= /usr/bin/python3
CMAKE_BUILD_TYPE ?= Release
LIT_OPTS ?= -sv

.PHONY: all setup configure build check check-gpu bundle python python-bundle wheel demo docs install clean bench-compile gpu-kernels

all: build

setup:
	@bash scripts/setup.sh

configure: setup
	@if [ ! -f $(BUILD_DIR)/build.ninja ]; then \
	  cmake -G Ninja -S . -B $(BUILD_DIR) \
	    -DCMAKE_BUILD_TYPE=$(CMAKE_BUILD_TYPE) \
	    -DMLIR_DIR=$(MLIR_DIR) \
	    -DLLVM_EXTERNAL_LIT=$(LIT) \
	    -DPython3_EXECUTABLE=$(PYTHON); \
	fi

build: configure
	ninja -C $(BUILD_DIR) -j$(JOBS)

check: build
	LIT_OPTS="$(LIT_OPTS)" ninja -C $(BUILD_DIR) -j$(JOBS) check-fa

# Only the GPU suite (test/GPU; UNSUPPORTED without a CUDA driver). `make
# check` runs it too wherever a driver is found.
check-gpu: build
	$(LIT) -sv $(BUILD_DIR)/test/GPU

# The relocatable GPU bundle (static tools, lit, FileCheck, tests, run
# script) for machines with only a CUDA driver and python3; see README.
bundle: setup
	JOBS=$(JOBS) bash scripts/make_bundle.sh $(BUILD_DIR)-static \
	  $(BUILD_DIR)/fa-mlir-gpu-bundle.tar.xz

# libFAMLIRCAPI.so for python/fa_mlir (PYTHONPATH=python).
python: build
	ninja -C $(BUILD_DIR) -j$(JOBS) FAMLIRCAPI

# fa_mlir with a libFAMLIRCAPI.so that needs no LLVM, for the GPU machine.
python-bundle: setup
	JOBS=$(JOBS) bash scripts/make_python_bundle.sh $(BUILD_DIR)-static \
	  $(BUILD_DIR)/fa-mlir-python.tar.xz

# The pip wheel of fa_mlir (python/pyproject.toml) with the static build's
# libFAMLIRCAPI.so (no LLVM needed where it is installed), offline:
# pip install --no-index $(BUILD_DIR)/wheel/fa_mlir-*.whl
wheel: setup
	JOBS=$(JOBS) bash scripts/build_static.sh $(BUILD_DIR)-static FAMLIRCAPI
	PYTHON=$(PYTHON) bash scripts/make_wheel.sh \
	  $(BUILD_DIR)-static/lib/libFAMLIRCAPI.so $(BUILD_DIR)/wheel

demo: build
	@bash scripts/demo.sh $(BUILD_DIR) examples/attention.mlir

# Median wall time of the whole compile of one attention op to cubin, and
# its split (our passes, the LLVM backend, ptxas), for both strategies; then
# the same for its backward (three kernels, whose ptxas overlap the backend).
BENCH_RUNS ?= 11
bench-compile: build
	$(BUILD_DIR)/bin/fa-compile examples/attention.mlir --benchmark=$(BENCH_RUNS) \
	  --strategy=mma-sync
	$(BUILD_DIR)/bin/fa-compile examples/attention.mlir --benchmark=$(BENCH_RUNS) \
	  --strategy=hopper-ws
	$(BUILD_DIR)/bin/fa-compile examples/attention-backward.mlir \
	  --benchmark=$(BENCH_RUNS)

# The kernel family for GPU runs (benchmarks/gpu_suite.py), compiled here.
gpu-kernels: build
	$(PYTHON) benchmarks/make_kernels.py --out $(BUILD_DIR)/gpu-kernels \
	  --fa-compile $(BUILD_DIR)/bin/fa-compile

docs: build
	ninja -C $(BUILD_DIR) fa-docs
	@echo "Generated references:"; find $(BUILD_DIR)/docs -name '*.md' | sort

install: build
	cmake --install $(BUILD_DIR) --prefix $(or $(PREFIX),install)

clean:
	rm -rf $(BUILD_DIR) $(BUILD_DIR)-static
