# pipevisor: processes wired with pipes and kept alive.
#
# The build tree mirrors the install tree (DESIGN.md section 2):
#   $(BUILD)/bin/pipevisor, $(BUILD)/bin/pvchat,
#   $(BUILD)/libexec/pipevisor/<filter>, $(BUILD)/lib/libpipevisor.{a,so},
#   $(BUILD)/lib/pkgconfig/pipevisor.pc, $(BUILD)/include/pipevisor.h.

VERSION =	0.1.0

PREFIX ?=	/usr/local
BINDIR ?=	$(PREFIX)/bin
LIBDIR ?=	$(PREFIX)/lib
LIBEXECDIR ?=	$(PREFIX)/libexec
INCLUDEDIR ?=	$(PREFIX)/include
MANDIR ?=	$(PREFIX)/share/man

BUILD ?=	build
CC ?=		cc
OPT ?=		-O2 -g

BSD_CFLAGS :=	$(shell pkg-config --cflags libbsd-overlay 2>/dev/null)
BSD_LIBS :=	$(shell pkg-config --libs libbsd-overlay 2>/dev/null)
# Programs take libbsd (and its libmd) statically: two fewer shared objects
# to map at every start is measurable in `pipevisor run`'s spawn latency.
PROG_LIBS :=	-Wl,-Bstatic $(shell pkg-config --static --libs-only-l \
		libbsd-overlay 2>/dev/null) -Wl,-Bdynamic

WARNINGS =	-Wall -Wextra -Wformat=2 -Wshadow -Wpointer-arith \
		-Wwrite-strings -Wstrict-prototypes -Wmissing-prototypes \
		-Werror=implicit-function-declaration -Wclobbered
ifeq ($(WERROR),1)
WARNINGS +=	-Werror
endif

# Project flags first, the user's CFLAGS last so they can override.
PV_CFLAGS =	-std=c11 -D_GNU_SOURCE -DLIBBSD_NETBSD_VIS \
		-DPV_VERSION='"$(VERSION)"' $(WARNINGS) $(OPT) -fPIC \
		$(BSD_CFLAGS) -Isupervisor $(SAN_FLAGS) $(CFLAGS)
# Full RELRO: every symbol is bound at start and the GOT made read-only.
# Besides the hardening, a forked chat worker then never runs the dynamic
# linker's lazy binder, which wrote its own copies of GOT and ld.so pages
# (about 20 KiB of PSS per worker, measured).
PV_LDFLAGS =	-Wl,-z,relro,-z,now $(SAN_FLAGS) $(LDFLAGS)

# Library: every supervisor/*.c except the pipevisor program's own files.
PROG_SRCS :=	supervisor/pipevisor.c $(wildcard supervisor/pipevisor_*.c)
LIB_SRCS :=	$(filter-out $(PROG_SRCS),$(wildcard supervisor/*.c))
LIB_OBJS :=	$(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
PROG_OBJS :=	$(PROG_SRCS:%.c=$(BUILD)/obj/%.o)

# Filters: one program per filters/*.c; pvchat is installed in bin.
FILTER_SRCS :=	$(filter-out filters/pvchat.c,$(wildcard filters/*.c))
FILTER_NAMES :=	$(FILTER_SRCS:filters/%.c=%)
FILTERS :=	$(FILTER_NAMES:%=$(BUILD)/libexec/pipevisor/%)
PVCHAT :=	$(if $(wildcard filters/pvchat.c),$(BUILD)/bin/pvchat)

UNIT_SRCS :=	$(wildcard tests/unit/test_*.c)
UNIT_TESTS :=	$(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRCS :=	$(wildcard tests/helpers/*.c)
HELPERS :=	$(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/tests/bin/%)
FUZZ_SRCS :=	$(wildcard tests/fuzz/fuzz_*.c)
DEMO_SRCS :=	$(wildcard demos/*.c)
DEMOS :=	$(DEMO_SRCS:demos/%.c=$(BUILD)/demos/%)

LIBA =		$(BUILD)/lib/libpipevisor.a
LIBSO =		$(BUILD)/lib/libpipevisor.so
PCFILE =	$(BUILD)/lib/pkgconfig/pipevisor.pc
HEADER =	$(BUILD)/include/pipevisor.h
MANPAGES :=	$(sort $(wildcard man/*.[1-8]))
SCRIPTS :=	$(wildcard scripts/*) .ci/run tests/eintr-compare tests/analyze

.PHONY: all deps check unit bats lint analyze demo bench sanitize fuzz eintr \
	install uninstall clean

all: $(BUILD)/bin/pipevisor $(FILTERS) $(PVCHAT) $(LIBA) $(LIBSO) \
	$(PCFILE) $(HEADER) $(UNIT_TESTS) $(HELPERS) $(DEMOS)

# Keep objects: deleting them as intermediates forces needless rebuilds.
.SECONDARY:

$(BUILD)/obj/%.o: %.c supervisor/pipevisor.h supervisor/pv_private.h \
	    supervisor/chat.h \
	    $(wildcard tests/unit/check.h)
	@mkdir -p $(@D)
	$(CC) $(PV_CFLAGS) -c -o $@ $<

$(LIBA): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@
	$(AR) rcs $@ $(LIB_OBJS)

$(LIBSO): $(LIB_OBJS)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,libpipevisor.so.0 $(PV_LDFLAGS) \
		-o $@ $(LIB_OBJS) $(BSD_LIBS)

$(PCFILE): supervisor/pipevisor.pc.in Makefile
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    supervisor/pipevisor.pc.in > $@

$(HEADER): supervisor/pipevisor.h
	@mkdir -p $(@D)
	cp supervisor/pipevisor.h $@

# Programs link the static library so the build tree runs without rpath.
$(BUILD)/bin/pipevisor: $(PROG_OBJS) $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(PV_LDFLAGS) -o $@ $(PROG_OBJS) $(LIBA) $(PROG_LIBS)

$(BUILD)/libexec/pipevisor/%: $(BUILD)/obj/filters/%.o $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(PV_LDFLAGS) -o $@ $< $(LIBA) $(PROG_LIBS) -lm

$(BUILD)/bin/pvchat: $(BUILD)/obj/filters/pvchat.o $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(PV_LDFLAGS) -o $@ $< $(LIBA) $(PROG_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(PV_LDFLAGS) -o $@ $< $(LIBA) $(BSD_LIBS)

# Small teaching programs for the guided tour (scripts/demo-*); not installed.
$(BUILD)/demos/%: $(BUILD)/obj/demos/%.o $(LIBA)
	@mkdir -p $(@D)
	$(CC) $(PV_LDFLAGS) -o $@ $< $(LIBA) $(PROG_LIBS) -lrt

$(BUILD)/tests/bin/%: $(BUILD)/obj/tests/helpers/%.o
	@mkdir -p $(@D)
	$(CC) $(PV_LDFLAGS) -o $@ $< $(BSD_LIBS)

# check: install what is missing, build warning-free, run every suite.
check: deps
	$(MAKE) WERROR=1 all
	$(MAKE) unit bats eintr lint analyze

deps:
	@sh scripts/install-deps

unit: $(UNIT_TESTS)
	@sh tests/run-unit $(UNIT_TESTS)

bats: all
	PV_BUILD=$(abspath $(BUILD)) bats --timing tests/

lint:
	$(if $(MANPAGES),mandoc -Tlint -Wwarning $(MANPAGES))
	shellcheck -s sh $(SCRIPTS) tests/run-unit
	@echo "lint: clean"

# gcc -fanalyzer and clang-tidy on signal handlers (RELIABILITY.md item 4).
analyze:
	@sh tests/analyze

demo: deps
	$(MAKE) all
	@sh scripts/demo

bench: deps
	$(MAKE) all
	@sh scripts/bench

# The unit and bats suites against an ASan+UBSan build in its own tree.
sanitize: deps
	$(MAKE) BUILD=build-sanitize OPT='-O1 -g -fno-omit-frame-pointer' \
	    SAN_FLAGS='-fsanitize=address,undefined -fno-sanitize-recover=all' \
	    WERROR=1 all
	PV_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    $(MAKE) BUILD=build-sanitize \
	    SAN_FLAGS='-fsanitize=address,undefined -fno-sanitize-recover=all' \
	    unit bats

# The bats suite under EINTR injection (RELIABILITY.md item 6).
eintr: all
	PV_BUILD=$(abspath $(BUILD)) sh tests/eintr-compare

FUZZ_TIME ?=	20
fuzz: deps
	@sh tests/fuzz/run $(FUZZ_TIME) $(FUZZ_SRCS)

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig \
	    $(DESTDIR)$(LIBEXECDIR)/pipevisor $(DESTDIR)$(INCLUDEDIR)
	install -m 755 $(BUILD)/bin/pipevisor $(PVCHAT) $(DESTDIR)$(BINDIR)
	$(if $(FILTERS),install -m 755 $(FILTERS) $(DESTDIR)$(LIBEXECDIR)/pipevisor)
	install -m 644 $(LIBA) $(DESTDIR)$(LIBDIR)
	install -m 755 $(LIBSO) $(DESTDIR)$(LIBDIR)/libpipevisor.so.0
	ln -sf libpipevisor.so.0 $(DESTDIR)$(LIBDIR)/libpipevisor.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    supervisor/pipevisor.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/pipevisor.pc
	install -m 644 supervisor/pipevisor.h $(DESTDIR)$(INCLUDEDIR)
	for m in $(MANPAGES); do \
	    s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
	    install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pipevisor $(DESTDIR)$(BINDIR)/pvchat
	rm -rf $(DESTDIR)$(LIBEXECDIR)/pipevisor
	rm -f $(DESTDIR)$(LIBDIR)/libpipevisor.a \
	    $(DESTDIR)$(LIBDIR)/libpipevisor.so \
	    $(DESTDIR)$(LIBDIR)/libpipevisor.so.0 \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/pipevisor.pc \
	    $(DESTDIR)$(INCLUDEDIR)/pipevisor.h
	for m in $(MANPAGES); do s=$${m##*.}; \
	    rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; done

clean:
	rm -rf build build-sanitize build-fuzz
