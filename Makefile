# moonbench: one Makefile for the executable, the plugins and the tests.
#
#   make run      install missing Debian packages (when root), build, open the workbench on datasets/
#   make test     build, then run the whole suite twice: normal and ASan+UBSan
#   make bench    benchmarks against peer tools (tests/bench; never part of make test)
#   make fuzz     build the libFuzzer targets (tests/fuzz) and run each for FUZZ_SECONDS
#   make install PREFIX=/usr/local   |   make uninstall   |   make clean
#
# Outputs go under $(BUILD) (build/ by default; build/asan for the sanitizer
# build). Compiler and linker flags for the libraries come from pkg-config
# and are cached in $(BUILD)/config.mk, which is made by checking that the
# Debian build dependencies are present (see deps below).

PREFIX   ?= /usr/local
BUILD    ?= build
SAN      ?= 0
CC       ?= cc

# The Debian packages the build and the tests need; `make deps` installs them.
DEB_PKGS = build-essential pkg-config libhdf5-dev hdf5-tools liblua5.4-dev lua5.4 libssl-dev \
           libopenblas-dev libncurses-dev libcmocka-dev bats bats-assert bats-support lua-busted tmux \
           libsodium-dev libmicrohttpd-dev libjansson-dev libprotobuf-c-dev protobuf-c-compiler \
           python3-onnx clang libclang-rt-14-dev curl libhiredis-dev redis-server
PKG_MODULES = hdf5-serial lua5.4 openblas ncursesw cmocka libcrypto libsodium libmicrohttpd jansson libprotobuf-c hiredis

WARN   = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
         -Wpointer-arith -Wformat=2 -Wundef -Wcast-align -Wwrite-strings \
         -Wnull-dereference -Wdouble-promotion -Wvla
OPT    = -O2 -g
ifeq ($(SAN),1)
OPT    = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
endif
# -fPIC everywhere: the same objects make the executable and the Lua module.
CFLAGS_ALL  = -std=c11 -D_POSIX_C_SOURCE=200809L $(OPT) $(WARN) -fPIC -Isrc/core -Isrc/script -Iplugins $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL = $(filter -fsanitize%,$(OPT)) $(LDFLAGS)

ifeq ($(filter clean uninstall deps,$(MAKECMDGOALS)),)
-include $(BUILD)/config.mk
endif

CORE_SRC = $(wildcard src/core/*.c)
# The executable: the CLI, the deployment layer (src/deploy: scorers, server,
# exporters) and the workbench (src/tui). The library (core) and the Lua
# binding (script) never include either.
CLI_SRC  = src/main.c $(wildcard src/cli/*.c) $(wildcard src/deploy/*.c) $(wildcard src/tui/*.c)
SCRIPT_SRC = $(wildcard src/script/*.c)
SCRIPT_OBJ = $(SCRIPT_SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/lualib.o
LUA_LIB  = $(sort $(wildcard lua/moonbench/*.lua))
CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  = $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
# protobuf code for the ONNX exporter, generated into $(BUILD)/gen (below)
ONNX_OBJ = $(BUILD)/obj/gen/onnx-ml.pb-c.o
UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT_BIN = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Each folder plugins/NAME with C files builds build/plugins/NAME.so. A
# plugin sees only the ABI header and OpenBLAS, never the host's headers.
PLUGINS  = $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard plugins/*/*.c)))))
PLUGIN_SO = $(PLUGINS:%=$(BUILD)/plugins/%.so)
# Test plugins (tests/plugins/*.c: broken or odd plugins for the host's tests)
TPLUGIN_SO = $(patsubst tests/plugins/%.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/plugins/*.c))
PLUGIN_CFLAGS = -std=c11 -D_POSIX_C_SOURCE=200809L $(OPT) $(WARN) -fPIC -Iplugins $(BLAS_CFLAGS) $(CFLAGS)

.PHONY: all run test check unit bench install uninstall clean deps fuzz fuzz-build fuzzers
all: $(BUILD)/moonbench $(BUILD)/lua/moonbench.so $(PLUGIN_SO) $(TPLUGIN_SO) $(UNIT_BIN) $(BUILD)/tests/make_hostile

$(BUILD)/config.mk: Makefile
	@$(MAKE) --no-print-directory deps
	@mkdir -p $(@D)
	@{ echo "PKG_CFLAGS := $$(pkg-config --cflags hdf5-serial lua5.4 openblas)"; \
	   echo "BLAS_CFLAGS := $$(pkg-config --cflags openblas)"; \
	   echo "BLAS_LIBS := $$(pkg-config --libs openblas)"; \
	   echo "PKG_LIBS := $$(pkg-config --libs hdf5-serial lua5.4 openblas libcrypto libsodium jansson) -lm -ldl -lpthread"; \
	   echo "TUI_CFLAGS := $$(pkg-config --cflags ncursesw)"; \
	   echo "TUI_LIBS := $$(pkg-config --libs ncursesw)"; \
	   echo "DEPLOY_CFLAGS := $$(pkg-config --cflags libmicrohttpd jansson libprotobuf-c hiredis)"; \
	   echo "DEPLOY_LIBS := $$(pkg-config --libs libmicrohttpd jansson libprotobuf-c hiredis)"; \
	   echo "TEST_LIBS := $$(pkg-config --libs cmocka)"; } > $@

# Check the build dependencies; install them when we are root with apt-get,
# otherwise stop with the exact command to run.
deps:
	@missing=0; command -v pkg-config >/dev/null || missing=1; \
	for m in $(PKG_MODULES); do pkg-config --exists $$m 2>/dev/null || missing=1; done; \
	for t in bats busted h5dump lua5.4 tmux clang protoc-c curl redis-server; do command -v $$t >/dev/null || missing=1; done; \
	[ -f /usr/lib/bats/bats-assert/load.bash ] || missing=1; \
	if [ $$missing = 1 ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "moonbench: installing build dependencies: apt-get install -y $(DEB_PKGS)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEB_PKGS) >/dev/null; } \
	      || { echo "moonbench: apt-get failed; run: apt-get install -y $(DEB_PKGS)"; exit 1; }; \
	  else \
	    echo "moonbench: missing build dependencies; run as root: apt-get install -y $(DEB_PKGS)"; exit 1; \
	  fi; \
	fi

# Only the workbench sees ncurses' flags, only src/deploy the server's and protobuf's.
$(BUILD)/obj/src/tui/%.o: CFLAGS_ALL += $(TUI_CFLAGS)
$(BUILD)/obj/src/deploy/%.o: CFLAGS_ALL += $(DEPLOY_CFLAGS)
# evaluate --json (src/cli/study.c) writes its report with jansson
$(BUILD)/obj/src/cli/%.o: CFLAGS_ALL += $(DEPLOY_CFLAGS)
$(BUILD)/obj/%.o: %.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

# The executable and the Lua module do not link OpenBLAS (only plugins call
# it): they set OPENBLAS_CORETYPE before a plugin loads it (src/core/blas.h).
HOST_LIBS = $(filter-out $(BLAS_LIBS),$(PKG_LIBS))

$(BUILD)/libmbcore.a: $(CORE_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/moonbench: $(CLI_OBJ) $(ONNX_OBJ) $(SCRIPT_OBJ) $(BUILD)/libmbcore.a
	$(CC) $(LDFLAGS_ALL) -o $@ $(CLI_OBJ) $(ONNX_OBJ) $(SCRIPT_OBJ) $(BUILD)/libmbcore.a $(HOST_LIBS) $(DEPLOY_LIBS) $(TUI_LIBS)

# The ONNX exporter's protobuf code, generated by protoc-c from the
# onnx-ml.proto that Debian's python3-onnx ships (never committed).
ONNX_PROTO ?= $(or $(wildcard /usr/lib/python3/dist-packages/onnx/onnx-ml.proto), \
                $(shell dpkg -L python3-onnx 2>/dev/null | grep -m1 '/onnx-ml\.proto$$'))
$(BUILD)/gen/onnx-ml.pb-c.c: $(ONNX_PROTO)
	@[ -n "$(ONNX_PROTO)" ] || { echo "moonbench: onnx-ml.proto not found; run: apt-get install -y python3-onnx"; exit 1; }
	@mkdir -p $(@D)
	cp $(ONNX_PROTO) $(@D)/onnx-ml.proto
	cd $(@D) && protoc-c --c_out=. onnx-ml.proto
$(BUILD)/gen/onnx-ml.pb-c.h: $(BUILD)/gen/onnx-ml.pb-c.c
$(ONNX_OBJ): $(BUILD)/gen/onnx-ml.pb-c.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(CC) -std=c11 $(OPT) -fPIC $(DEPLOY_CFLAGS) -I$(BUILD)/gen -c $< -o $@
$(BUILD)/obj/src/deploy/export_onnx.o: $(BUILD)/gen/onnx-ml.pb-c.h
$(BUILD)/obj/src/deploy/%.o: CFLAGS_ALL += -I$(BUILD)/gen

# The Lua half of the module (lua/moonbench/*.lua), embedded as C arrays
# so that the executable and the Lua module carry the same code.
$(BUILD)/gen/lualib.c: $(LUA_LIB) Makefile
	@mkdir -p $(@D)
	@{ echo '/* generated by the Makefile from the files of lua/moonbench; do not edit */'; \
	   echo '#include <stddef.h>'; \
	   for f in $(LUA_LIB); do n=$$(basename $$f .lua); \
	     echo "static const char src_$$n[] = {"; od -An -v -tx1 $$f | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; echo '0};'; done; \
	   echo 'typedef struct { const char *name; const char *src; size_t len; } mbl_luafile;'; \
	   echo 'extern const mbl_luafile mbl_lualib[];'; \
	   echo 'const mbl_luafile mbl_lualib[] = {'; \
	   for f in $(LUA_LIB); do n=$$(basename $$f .lua); echo "{\"moonbench.$$n\", src_$$n, sizeof src_$$n - 1},"; done; \
	   echo '{NULL, NULL, 0}};'; } > $@

$(BUILD)/obj/gen/lualib.o: $(BUILD)/gen/lualib.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

# The Lua module for a stock lua5.4: require "moonbench". Lua's own
# symbols come from the interpreter that loads it, so liblua is not linked.
$(BUILD)/lua/moonbench.so: $(SCRIPT_OBJ) $(BUILD)/libmbcore.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -shared -o $@ $(SCRIPT_OBJ) $(BUILD)/libmbcore.a $(filter-out -llua5.4,$(HOST_LIBS))

define plugin_rule
$(BUILD)/plugins/$(1).so: $(wildcard plugins/$(1)/*.c plugins/$(1)/*.h) plugins/moonbench_plugin.h $(BUILD)/config.mk
	@mkdir -p $$(@D)
	$$(CC) $$(PLUGIN_CFLAGS) $$(LDFLAGS_ALL) -shared -o $$@ $$(filter %.c,$$^) $$(BLAS_LIBS) -lm -lpthread
endef
$(foreach p,$(PLUGINS),$(eval $(call plugin_rule,$(p))))

$(BUILD)/tests/plugins/%.so: tests/plugins/%.c tests/plugins/stub.h plugins/moonbench_plugin.h $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(CC) $(PLUGIN_CFLAGS) $(LDFLAGS_ALL) -shared -o $@ $< -lm

# The hostile HDF5 fixtures' writer (tests/data/make_hostile.c), run by the tests.
$(BUILD)/tests/make_hostile: tests/data/make_hostile.c $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $< $(PKG_LIBS)

$(BUILD)/tests/%: tests/unit/%.c $(SCRIPT_OBJ) $(BUILD)/libmbcore.a $(BUILD)/config.mk
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(UNIT_CFLAGS) -MMD -MP $(LDFLAGS_ALL) -o $@ $< $(UNIT_OBJ) $(SCRIPT_OBJ) $(BUILD)/libmbcore.a $(PKG_LIBS) $(TEST_LIBS)

# Unit tests of src/deploy link the deployment objects they test.
DEPLOY_UNIT_OBJ = $(addprefix $(BUILD)/obj/src/deploy/,runtime.o runtime_pipe.o runtime_pool.o drift.o)
$(BUILD)/tests/test_runtime: $(DEPLOY_UNIT_OBJ)
$(BUILD)/tests/test_runtime: UNIT_OBJ = $(DEPLOY_UNIT_OBJ)
$(BUILD)/tests/test_runtime: UNIT_CFLAGS = -Isrc/deploy
# The worker's decimal fast path (tests/unit/test_worker_number.c) links only its own object.
$(BUILD)/tests/test_worker_number: $(BUILD)/obj/src/deploy/worker_number.o
$(BUILD)/tests/test_worker_number: UNIT_OBJ = $(BUILD)/obj/src/deploy/worker_number.o
$(BUILD)/tests/test_worker_number: UNIT_CFLAGS = -Isrc/deploy
# The worker's arena replies (tests/unit/test_worker_reply.c), checked against hiredis's reader.
$(BUILD)/tests/test_worker_reply: $(BUILD)/obj/src/deploy/worker_reply.o
$(BUILD)/tests/test_worker_reply: UNIT_OBJ = $(BUILD)/obj/src/deploy/worker_reply.o
$(BUILD)/tests/test_worker_reply: UNIT_CFLAGS = -Isrc/deploy
$(BUILD)/tests/test_worker_reply: TEST_LIBS += $(DEPLOY_LIBS)
# The server's JSON text (tests/unit/test_serve_json.c), checked against jansson's dumps.
$(BUILD)/tests/test_serve_json: $(BUILD)/obj/src/deploy/serve_json.o
$(BUILD)/tests/test_serve_json: UNIT_OBJ = $(BUILD)/obj/src/deploy/serve_json.o
$(BUILD)/tests/test_serve_json: UNIT_CFLAGS = -Isrc/deploy
# The server's /predict body reader (tests/unit/test_serve_rows.c), checked against jansson's reading.
$(BUILD)/tests/test_serve_rows: $(BUILD)/obj/src/deploy/serve_rows.o
$(BUILD)/tests/test_serve_rows: UNIT_OBJ = $(BUILD)/obj/src/deploy/serve_rows.o
$(BUILD)/tests/test_serve_rows: UNIT_CFLAGS = -Isrc/deploy
# The workbench's figure lines and the server's live summary (tests/unit/test_results.c).
RESULTS_UNIT_OBJ = $(BUILD)/obj/src/tui/figures.o $(addprefix $(BUILD)/obj/src/deploy/,serve_metrics.o drift.o)
$(BUILD)/tests/test_results: $(RESULTS_UNIT_OBJ)
$(BUILD)/tests/test_results: UNIT_OBJ = $(RESULTS_UNIT_OBJ)
$(BUILD)/tests/test_results: UNIT_CFLAGS = -Isrc/deploy -Isrc/tui
# The workbench's editor is tested without curses.
$(BUILD)/tests/test_tui_editor: $(BUILD)/obj/src/tui/editor.o
$(BUILD)/tests/test_tui_editor: UNIT_OBJ = $(BUILD)/obj/src/tui/editor.o
$(BUILD)/tests/test_tui_editor: UNIT_CFLAGS = -Isrc/tui
# The trees plugin's batch prediction (tests/unit/test_trees_predict.c) links the plugin's
# objects (built like the host's), to compare whole doubles.
TREES_UNIT_OBJ = $(addprefix $(BUILD)/obj/plugins/trees/,ensemble.o predict_simd.o gbdt_simd.o exp_simd.o util.o binning.o)
$(BUILD)/tests/test_trees_predict: $(TREES_UNIT_OBJ)
$(BUILD)/tests/test_trees_predict: UNIT_OBJ = $(TREES_UNIT_OBJ)
$(BUILD)/tests/test_trees_predict: UNIT_CFLAGS = -Iplugins/trees

-include $(CORE_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(SCRIPT_OBJ:.o=.d) $(UNIT_BIN:=.d) $(TREES_UNIT_OBJ:.o=.d)

# In a terminal: the workbench on the bundled datasets; otherwise (CI, a pipe)
# what they hold, and how to open the workbench.
run: all
	@if [ -t 0 ] && [ -t 1 ]; then exec $(BUILD)/moonbench datasets/; fi; \
	for f in datasets/*.h5 datasets/table/*.h5; do $(BUILD)/moonbench inspect "$$f" || exit 1; echo; done; \
	echo "In a terminal, 'make run' opens the workbench: $(BUILD)/moonbench datasets/"

# The whole suite, normal build then ASan+UBSan build; tests/run.sh prints
# the closing "N passed, N failed" line and fails on any failure.
test check: all
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=1 all
	@$(MAKE) --no-print-directory fuzz-build
	@tests/run.sh build build/asan

unit: all
	@tests/run.sh build

# Benchmarks against peer tools (tests/bench/README.md): data I/O first, then
# each plugin's script; BENCH="run linear" picks some.
BENCH ?= run linear trees mlp lua scaling tui explain score serve worker export_c
bench: all
	@mkdir -p $(BUILD)/bench
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $(BUILD)/bench/bench_read tests/bench/bench_read.c \
	  $(BUILD)/libmbcore.a $(PKG_LIBS)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $(BUILD)/bench/bench_fit tests/bench/bench_fit.c \
	  $(BUILD)/libmbcore.a $(PKG_LIBS)
	$(CC) $(CFLAGS_ALL) -Isrc/deploy $(LDFLAGS_ALL) -o $(BUILD)/bench/export_c_ref tests/bench/export_c_ref.c \
	  $(DEPLOY_UNIT_OBJ) $(SCRIPT_OBJ) $(BUILD)/libmbcore.a $(PKG_LIBS)
	@for s in $(BENCH); do MB_BUILD=$(BUILD) tests/bench/$$s.sh || exit 1; done

# libFuzzer targets (tests/fuzz/README.md): the library and the Lua binding
# rebuilt with clang under build/fuzz, one binary per tests/fuzz/fuzz_*.c.
# `make fuzz` runs each for FUZZ_SECONDS on a copy of its seed corpus
# (build/fuzz/corpus/T); crashes land in build/fuzz/crash/T. `make test`
# runs each over tests/fuzz/corpus/T and tests/fuzz/regressions/T once
# (tests/cli/fuzz.bats).
FUZZ_SECONDS ?= 300
FUZZ_TARGETS = $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OPT = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
fuzz-build:
	@$(MAKE) --no-print-directory BUILD=build/fuzz CC=clang OPT="$(FUZZ_OPT)" fuzzers
fuzzers: $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%)
# Every target links the library and the Lua binding; the Lua one also
# src/cli/run.o, to drive `moonbench run --sandbox` in process; the serve
# one the server's request reader and reply writer.
FUZZ_EXTRA_lua = $(BUILD)/obj/src/cli/run.o
FUZZ_EXTRA_serve = $(BUILD)/obj/src/deploy/serve_rows.o $(BUILD)/obj/src/deploy/serve_json.o
$(BUILD)/fuzz_serve: $(FUZZ_EXTRA_serve)
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(SCRIPT_OBJ) $(BUILD)/libmbcore.a $(BUILD)/obj/src/cli/run.o
	$(CC) $(CFLAGS_ALL) -Isrc/cli -Isrc/deploy -fsanitize=fuzzer -o $@ $< $(FUZZ_EXTRA_$*) \
	  $(SCRIPT_OBJ) $(BUILD)/libmbcore.a $(PKG_LIBS)
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  rm -rf build/fuzz/work/$$t; mkdir -p build/fuzz/corpus/$$t build/fuzz/crash/$$t build/fuzz/work/$$t; \
	  cp datasets/iris.h5 datasets/csv/iris.csv build/fuzz/work/$$t/; \
	  cp -n tests/fuzz/corpus/$$t/* tests/fuzz/regressions/$$t/* build/fuzz/corpus/$$t/ 2>/dev/null; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  (cd build/fuzz/work/$$t && MOONBENCH_AUDIT_LOG= LSAN_OPTIONS=suppressions=$(CURDIR)/tests/fuzz/lsan.supp ../../fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=3072 \
	    -close_fd_mask=1 -artifact_prefix=../../crash/$$t/ ../../corpus/$$t) || exit 1; \
	done

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/doc/moonbench $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/lib/moonbench/plugins
	install -m 755 $(BUILD)/moonbench $(DESTDIR)$(PREFIX)/bin/moonbench
	$(if $(PLUGIN_SO),install -m 755 $(PLUGIN_SO) $(DESTDIR)$(PREFIX)/lib/moonbench/plugins/)
	install -m 644 plugins/moonbench_plugin.h $(DESTDIR)$(PREFIX)/include/moonbench_plugin.h
	install -d $(DESTDIR)$(PREFIX)/lib/lua/5.4 $(DESTDIR)$(PREFIX)/share/moonbench/examples
	install -m 755 $(BUILD)/lua/moonbench.so $(DESTDIR)$(PREFIX)/lib/lua/5.4/moonbench.so
	$(if $(wildcard lua/examples/*.lua),install -m 644 lua/examples/*.lua $(DESTDIR)$(PREFIX)/share/moonbench/examples/)
	install -m 644 docs/moonbench.1 $(DESTDIR)$(PREFIX)/share/man/man1/moonbench.1
	install -m 644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/moonbench/

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/moonbench $(DESTDIR)$(PREFIX)/share/man/man1/moonbench.1 \
	  $(DESTDIR)$(PREFIX)/include/moonbench_plugin.h
	rm -f $(DESTDIR)$(PREFIX)/lib/lua/5.4/moonbench.so
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/moonbench $(DESTDIR)$(PREFIX)/lib/moonbench $(DESTDIR)$(PREFIX)/share/moonbench

clean:
	rm -rf build
