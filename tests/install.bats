#!/usr/bin/env bats
# make install / make uninstall: PREFIX and DESTDIR honoured, the installed
# pipevisor finds its installed filters, uninstall removes every file.

load helpers

setup() {
	REPO=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
	DEST=$BATS_TEST_TMPDIR/dest
}

@test "install: PREFIX and DESTDIR lay out bin, lib, libexec, include, man" {
	run make -s -C "$REPO" BUILD="$PV_BUILD" DESTDIR="$DEST" \
	    PREFIX=/opt/pvtest install
	assert_success
	local p=$DEST/opt/pvtest
	assert_file_executable "$p/bin/pipevisor"
	assert_file_exists "$p/lib/libpipevisor.a"
	assert_file_exists "$p/lib/libpipevisor.so.0"
	assert_link_exists "$p/lib/libpipevisor.so"
	assert_file_exists "$p/include/pipevisor.h"
	assert_file_exists "$p/share/man/man1/pipevisor.1"
	assert_file_exists "$p/share/man/man3/libpipevisor.3"
	run grep -x 'libdir=/opt/pvtest/lib' "$p/lib/pkgconfig/pipevisor.pc"
	assert_success
	# Filters are in libexec, not bin: they shadow no system command.
	assert_file_executable "$p/libexec/pipevisor/upper"
	assert_file_not_exists "$p/bin/upper"
	# The installed pipevisor finds them beside itself.
	run env -u PIPEVISOR_FILTERS "$p/bin/pipevisor" run "echo installed | upper"
	assert_success
	assert_output "INSTALLED"
}

@test "uninstall: removes every installed file" {
	make -s -C "$REPO" BUILD="$PV_BUILD" DESTDIR="$DEST" \
	    PREFIX=/opt/pvtest install
	run make -s -C "$REPO" BUILD="$PV_BUILD" DESTDIR="$DEST" \
	    PREFIX=/opt/pvtest uninstall
	assert_success
	run find "$DEST" -type f -o -type l
	assert_output ""
}
