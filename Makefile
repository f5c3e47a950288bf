# Kanava build. `make` -> build/kanava; `make SAN=1` -> build-san/ with ASan+UBSan.
# Every .c under src/ (except src/cli/main.c) goes into one static library that the
# binary and the tests link against.

SAN ?= 0
ifeq ($(SAN),1)
  BUILD ?= build-san
  OPT := -O1 -g -march=native -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDSAN := -fsanitize=address,undefined
else
  BUILD ?= build
  OPT := -O3 -march=native -g
  LDSAN :=
endif

CC ?= cc
# OpenBLAS built on OpenMP: its threads and our own kernels share one thread pool, instead
# of two pools spinning against each other on the same cores.
BLAS_DIR_INC := /usr/include/x86_64-linux-gnu/openblas-openmp
BLAS_LIB_DIR := /usr/lib/x86_64-linux-gnu/openblas-openmp
PKGS := libutf8proc jansson libcrypto sqlite3 libmicrohttpd libvoikko
CFLAGS := -std=c11 -ffp-contract=fast -Wno-psabi -D_GNU_SOURCE -Wall -Wextra -Werror $(OPT) -Isrc \
          -I$(BLAS_DIR_INC) $(shell pkg-config --cflags $(PKGS)) -MMD -MP -pthread -fopenmp
LDLIBS := $(shell pkg-config --libs $(PKGS)) -L$(BLAS_LIB_DIR) -Wl,-rpath,$(BLAS_LIB_DIR) -lopenblas -lm -pthread -fopenmp

LIB_SRC := $(filter-out src/cli/main.c,$(shell find src -name '*.c' | sort))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
# The web UI (web/) goes into the library as a generated C table (tools/embed_assets.sh).
WEB_FILES := $(shell find web -type f | sort)
LIB_OBJ += $(BUILD)/gen/web_assets.o
CLI_OBJ := $(BUILD)/src/cli/main.o
TEST_SRC := $(shell find tests -maxdepth 1 -name 'test_*.c' | sort)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all tests clean
all: $(BUILD)/kanava
tests: $(TEST_BIN)

$(BUILD)/libkanava.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	ar rcs $@ $^

$(BUILD)/kanava: $(CLI_OBJ) $(BUILD)/libkanava.a
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

# The directories are prerequisites too, so that adding or removing a file re-embeds.
$(BUILD)/gen/web_assets.c: $(WEB_FILES) $(shell find web -type d) tools/embed_assets.sh
	tools/embed_assets.sh $@ web $(WEB_FILES)

$(BUILD)/gen/web_assets.o: $(BUILD)/gen/web_assets.c Makefile
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c tests/test_util.h $(BUILD)/libkanava.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Wno-format-truncation -Itests -o $@ $< $(BUILD)/libkanava.a $(LDSAN) $(LDLIBS) -lcmocka

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

# `make check`: the full test suite (installs dependencies itself). `make demo`: the main job.
.PHONY: check demo deps
deps:
	scripts/install-deps.sh
check:
	tests/run.sh
demo:
	scripts/demo.sh

BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
.PHONY: bench-bin
bench-bin: $(BENCH_BIN)
$(BUILD)/bench/%: bench/%.c $(BUILD)/libkanava.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libkanava.a $(LDSAN) $(LDLIBS)

# Vector erff and expf from glibc's libmvec need fast-math; confined to this one file.
$(BUILD)/src/model/vecmath.o: CFLAGS += -ffast-math
# sqrtf may set errno, which keeps the AdamW loop scalar; nothing reads errno there.
$(BUILD)/src/learn/adamw.o: CFLAGS += -fno-math-errno
