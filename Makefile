# imgassure build. `make help` lists the targets.

CC ?= cc
BUILD ?= build
PKGS := rdkafka avro-c hiredis libarchive libcurl jansson libcrypto libisal \
	libzstd

OPTFLAGS ?= -O2 -g
SANFLAGS ?=
CFLAGS_BASE := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE \
	-Wall -Wextra -Werror -pthread -Icommon -Iproducer -Iworker -I$(BUILD)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS = $(CFLAGS_BASE) $(OPTFLAGS) $(SANFLAGS) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(SANFLAGS) -pthread $(LDFLAGS)
LIBS_ALL = $(PKG_LIBS) -lz -lm

SCHEMAS := $(sort $(wildcard schemas/*.avsc))
COMMON_SRC := $(sort $(wildcard common/*.c))
PRODUCER_LIB_SRC := producer/producer.c producer/on_demand.c
CLI_SRC := $(filter-out $(PRODUCER_LIB_SRC),$(sort $(wildcard producer/*.c)))
WORKER_MAIN_SRC := worker/main.c
WORKER_LIB_SRC := $(filter-out $(WORKER_MAIN_SRC),$(sort $(wildcard worker/*.c)))
UNIT_TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))
COMMON_OBJ := $(call obj,$(COMMON_SRC)) $(BUILD)/schemas_embedded.o
PRODUCER_LIB_OBJ := $(call obj,$(PRODUCER_LIB_SRC))
WORKER_LIB_OBJ := $(call obj,$(WORKER_LIB_SRC))
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_TEST_SRC))
FAULTS_PUBLISH := $(BUILD)/tests/faults-publish
SEEN_FLOOD := $(BUILD)/tests/seen-flood

LIBCOMMON := $(BUILD)/libimgassure_common.a
LIBPRODUCER := $(BUILD)/libimgassure.a
LIBWORKER := $(BUILD)/libimgassure_worker.a
PROGRAMS := $(BUILD)/imgassure $(BUILD)/imgassure-worker \
	$(BUILD)/imgassure-dev-broker

export IMGASSURE_FIXTURES ?= $(abspath ../shared/fixtures)

.PHONY: all deps test test-unit test-e2e test-compose demo asan clean \
	format format-check help image db bench fuzz fuzz-build test-faults \
	test-faults-short

all: $(PROGRAMS) $(UNIT_TESTS) $(FAULTS_PUBLISH) $(SEEN_FLOOD)

help:
	@echo "make deps         install the Debian packages (as root)"
	@echo "make              build the programs and unit tests"
	@echo "make demo         scan a real Debian image end to end on loopback"
	@echo "make test         unit, end-to-end, short fault and deployment checks"
	@echo "make test-faults  1,000 scan requests through workers under faults"
	@echo "make db           download osv.dev's Debian, Alpine and Ubuntu data"
	@echo "make bench        database load, matching and layer walk figures"
	@echo "make asan         the test suite under ASan and UBSan"
	@echo "make fuzz         each libFuzzer target for FUZZ_SECONDS (default 30)"
	@echo "make format-check verify clang-format is satisfied"

deps:
	@dev/install-deps.sh

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/schemas_embedded.c: $(SCHEMAS) dev/embed-schemas.sh
	@mkdir -p $(BUILD)
	dev/embed-schemas.sh $(SCHEMAS) > $@.tmp && mv $@.tmp $@

$(BUILD)/schemas_embedded.o: $(BUILD)/schemas_embedded.c
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBCOMMON): $(COMMON_OBJ)
	rm -f $@ && ar rcs $@ $^

$(LIBPRODUCER): $(PRODUCER_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(LIBWORKER): $(WORKER_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/imgassure: $(call obj,$(CLI_SRC)) $(LIBPRODUCER) $(LIBWORKER) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)

$(BUILD)/imgassure-worker: $(call obj,$(WORKER_MAIN_SRC)) $(LIBWORKER) $(LIBPRODUCER) $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)

$(BUILD)/imgassure-dev-broker: $(call obj,dev/broker.c dev/fault_control.c) \
		$(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)

# Keep the test objects: make would delete them as intermediate files and
# rebuild every test on the next run.
.SECONDARY: $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%.o,$(UNIT_TEST_SRC))

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIBWORKER) $(LIBPRODUCER) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL) -lcmocka

# The fault-injection commands are tested apart from the broker process.
$(BUILD)/tests/test_fault_control: $(BUILD)/dev/fault_control.o

# The fault suite's request publisher, linked like the programs.
$(FAULTS_PUBLISH): $(BUILD)/tests/faults/publish_requests.o $(LIBPRODUCER) \
		$(LIBWORKER) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)

# The image-seen load of tests/e2e/ingest.sh and make bench.
$(SEEN_FLOOD): $(BUILD)/tests/e2e/seen_flood.o $(LIBPRODUCER) $(LIBWORKER) \
		$(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)

# Benchmark programs: each tests/bench/bench_*.c with the shared
# tests/bench/harness.c, linked like the unit tests but without cmocka.
BENCH_PROGRAMS = $(patsubst tests/bench/%.c,$(BUILD)/bench/%,\
	$(sort $(wildcard tests/bench/bench_*.c)))
.SECONDARY: $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/bench/*.c))

$(BUILD)/bench/%: $(BUILD)/tests/bench/%.o $(BUILD)/tests/bench/harness.o \
		$(LIBWORKER) $(LIBPRODUCER) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)

# The demo image: mmdebstrap's minbase bookworm as an OCI layout, cached
# under .cache/ so later runs reuse it.
image:
	dev/build-image.sh

# osv.dev's exports into .cache/vulndb, which make demo then uses.
db:
	dev/fetch-vulndb.sh

test: deps
	$(MAKE) format-check
	$(MAKE) all
	$(MAKE) test-unit
	$(MAKE) test-e2e
	$(MAKE) test-faults-short
	$(MAKE) test-compose

test-unit: $(UNIT_TESTS)
	tests/run-unit.sh $(UNIT_TESTS)

test-e2e: $(PROGRAMS) $(BUILD)/tests/test_image_state $(SEEN_FLOOD)
	tests/dev/test_stack.sh
	tests/e2e/run.sh
	tests/e2e/statuses.sh
	tests/e2e/scan_cli.sh
	tests/e2e/lifecycle.sh
	tests/e2e/ondemand.sh
	tests/e2e/ingest.sh

# Builds apart in build/bench, with the flags of the shipped build, so that
# other builds in build/ neither race with nor change what is measured.
bench: deps
	$(MAKE) BUILD=build/bench \
		$(patsubst $(BUILD)/%,build/bench/%,$(BENCH_PROGRAMS) \
		$(PROGRAMS) $(SEEN_FLOOD) $(FAULTS_PUBLISH))
	dev/build-image.sh
	OPTFLAGS="$(OPTFLAGS)" tests/bench/run.sh build/bench

# Kills, restarts and failures while scan requests flow; the short form
# has fewer requests and the same faults.
test-faults: $(PROGRAMS) $(FAULTS_PUBLISH)
	tests/faults/run.sh

test-faults-short: $(PROGRAMS) $(FAULTS_PUBLISH)
	tests/faults/run.sh --short

test-compose:
	docker-compose -f docker-compose.yml config -q
	@echo "docker-compose.yml: valid"

demo: deps
	$(MAKE) all
	dev/demo.sh

asan: deps
	$(MAKE) BUILD=build/asan OPTFLAGS="-O1 -g -fno-omit-frame-pointer" \
		SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
		IMGASSURE_BUILD=build/asan all test-unit test-e2e test-faults-short

# libFuzzer targets: each fuzz/fuzz_*.c linked with the libraries built
# by clang apart in build/fuzz, then run for FUZZ_SECONDS each by
# fuzz/run.sh, which fails when one crashes. fuzz/event_seeds.c writes the
# Avro seeds, which are binary and follow the schemas.
FUZZ_SECONDS ?= 30
FUZZ_BUILD := build/fuzz
FUZZ_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS = $(patsubst fuzz/%.c,$(BUILD)/fuzzers/%,\
	$(sort $(wildcard fuzz/fuzz_*.c)))
.SECONDARY: $(patsubst %.c,$(BUILD)/%.o,$(wildcard fuzz/*.c))

$(BUILD)/fuzzers/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(LIBWORKER) $(LIBPRODUCER) \
		$(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS_ALL)

$(BUILD)/fuzzers/event_seeds: $(BUILD)/fuzz/event_seeds.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS_ALL)

fuzz-build: $(FUZZ_TARGETS) $(BUILD)/fuzzers/event_seeds

fuzz: deps
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang \
		OPTFLAGS="-O1 -g -fno-omit-frame-pointer" \
		SANFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh $(FUZZ_BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
