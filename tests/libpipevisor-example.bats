#!/usr/bin/env bats
# The man pages of pipevisor(1) and libpipevisor(3) against the build: the
# EXAMPLES program of libpipevisor(3) compiles against the built library,
# through pipevisor.pc, and prints what the page says; both pages are
# mandoc-clean; the SYNOPSIS of pipevisor(1) matches the usage messages and
# that of libpipevisor(3) matches pipevisor.h.

load helpers

MAN1=$BATS_TEST_DIRNAME/../man/pipevisor.1
MAN3=$BATS_TEST_DIRNAME/../man/libpipevisor.3

setup() {
	cd "$BATS_TEST_TMPDIR"
}

# extract_example: prints the first .Bd -literal block after .Sh EXAMPLES
# of libpipevisor(3), with the mdoc escapes \&, \- and \e undone.
extract_example() {
	awk '
		/^\.Sh / { in_examples = ($0 == ".Sh EXAMPLES"); next }
		in_examples && !inside && /^\.Bd -literal/ { inside = 1; next }
		inside && /^\.Ed/ { exit }
		inside { print }
	' "$MAN3" | sed -e 's/\\&//g' -e 's/\\-/-/g' -e 's/\\e/\\/g'
}

# documented_output: the lines the page shows after "$ ./a.out".
documented_output() {
	awk '
		/^\$ \.\/a\.out$/ { inside = 1; next }
		inside && /^\.Ed/ { exit }
		inside { print }
	' "$MAN3"
}

# make_pc: a copy of the built pipevisor.pc that points at the build tree
# (the built one names the install prefix), in $BATS_TEST_TMPDIR/pkgconfig.
make_pc() {
	mkdir -p pkgconfig
	sed -e "s|^libdir=.*|libdir=$PV_BUILD/lib|" \
	    -e "s|^includedir=.*|includedir=$PV_BUILD/include|" \
	    "$PV_BUILD/lib/pkgconfig/pipevisor.pc" > pkgconfig/pipevisor.pc
	export PKG_CONFIG_PATH=$BATS_TEST_TMPDIR/pkgconfig
}

# check_example_output: asserts on the output of the example program.
check_example_output() {
	assert_success
	assert_equal "${lines[0]}" "got 100 (3 bytes)"
	assert_equal "${lines[1]}" "got 81 (2 bytes)"
	assert_equal "${lines[2]}" "got 64 (2 bytes)"
	assert_equal "${lines[3]}" "stage 1 squares: exit 0"
	assert_equal "${lines[4]}" "stage 2 sort: exit 0"
	assert_equal "${lines[5]}" "stage 3 head: exit 0"
	assert_equal "${#lines[@]}" 6
	# The page shows exactly this output.
	assert_equal "$output" "$(documented_output)"
}

@test "libpipevisor(3): the EXAMPLES block is one whole C program" {
	extract_example > example.c
	run grep -c '^main(void)$' example.c
	assert_output 1
	run grep -c '^#include <pipevisor.h>$' example.c
	assert_output 1
	# No mdoc left in it.
	run grep -nE '^\.|\\e|\\&' example.c
	assert_failure
}

@test "libpipevisor(3): the example builds with pkg-config against the shared library and runs" {
	# An ASan-built library needs the sanitizer runtime in the program
	# too; the installed-library path is what this checks, in make check.
	[ -z "${PV_SANITIZED:-}" ] || skip "the library is an ASan build"
	extract_example > example.c
	make_pc
	run pkg-config --cflags --libs pipevisor
	assert_success
	assert_output --partial "-I$PV_BUILD/include"
	assert_output --partial "-L$PV_BUILD/lib"
	assert_output --partial "-lpipevisor"
	# As the page says, warning-free.
	# shellcheck disable=SC2046
	run cc -std=c11 -Wall -Wextra -o example-shared example.c \
	    $(pkg-config --cflags --libs pipevisor)
	assert_success
	assert_output ""
	# The library's soname is libpipevisor.so.0; the build tree has only
	# libpipevisor.so, so give the loader the name it looks for.
	mkdir lib
	ln -s "$PV_BUILD/lib/libpipevisor.so" lib/libpipevisor.so.0
	run env LD_LIBRARY_PATH="$BATS_TEST_TMPDIR/lib" ldd ./example-shared
	assert_output --partial "libpipevisor.so.0 => $BATS_TEST_TMPDIR/lib/"
	run env LD_LIBRARY_PATH="$BATS_TEST_TMPDIR/lib" ./example-shared
	check_example_output
}

@test "libpipevisor(3): the example links statically against libpipevisor.a and runs" {
	# An ASan-built library needs the sanitizer runtime in the program
	# too; the installed-library path is what this checks, in make check.
	[ -z "${PV_SANITIZED:-}" ] || skip "the library is an ASan build"
	extract_example > example.c
	make_pc
	# Libs.private carries what the static library needs.
	run pkg-config --static --libs-only-l pipevisor
	assert_success
	assert_output --partial "-lbsd"
	private=$(pkg-config --static --libs-only-l pipevisor |
	    sed -e 's/-lpipevisor//')
	# shellcheck disable=SC2046,SC2086
	run cc -std=c11 -Wall -Wextra -o example-static example.c \
	    $(pkg-config --cflags pipevisor) "$PV_BUILD/lib/libpipevisor.a" \
	    $private
	assert_success
	assert_output ""
	run ldd ./example-static
	refute_output --partial "libpipevisor"
	run ./example-static
	check_example_output
}

@test "man pages: mandoc -Tlint -Wwarning is clean on pipevisor.1 and libpipevisor.3" {
	run mandoc -Tlint -Wwarning "$MAN1" "$MAN3"
	assert_success
	assert_output ""
}

# render PAGE: the page as plain text, without overstrike.
render() {
	mandoc -Tascii "$1" | sed -e 's/.\x08//g'
}

# options_of: the distinct options (-x, --long) in its standard input.
# options_of: the options named in usage text, a bundle such as -hjw
# split into -h, -j, -w.
options_of() {
	grep -oE -- '(^|[[( ])--?[A-Za-z][A-Za-z-]*' | tr -d '[( ' |
	    awk '/^--/ { print; next }
		{ for (i = 2; i <= length($0); i++) print "-" substr($0, i, 1) }' |
	    sort -u
}

@test "pipevisor(1): the SYNOPSIS has exactly the options of the usage messages" {
	local all="" cmd
	run "$PIPEVISOR" --help
	assert_success
	all=$output
	for cmd in run up ctl status serve; do
		run "$PIPEVISOR" "$cmd" --help
		assert_success
		all=$(printf '%s\n%s\n' "$all" "$output")
	done
	usage=$(printf '%s\n' "$all" | options_of)
	synopsis=$(render "$MAN1" | sed -n '/^SYNOPSIS/,/^DESCRIPTION/p' |
	    options_of)
	[ -n "$usage" ]
	assert_equal "$synopsis" "$usage"
	# And the SYNOPSIS has the same two forms as the usage.
	run render "$MAN1"
	assert_output --partial "pipevisor run [-h]"
	assert_output --partial "pipevisor --help | --version"
}

@test "pipevisor(1): every option of every subcommand's --help is described" {
	local all="" cmd
	for cmd in run up ctl status serve; do
		run "$PIPEVISOR" "$cmd" --help
		assert_success
		all=$(printf '%s\n%s\n' "$all" "$output")
	done
	for opt in $(printf '%s\n' "$all" | options_of | sort -u); do
		case $opt in
		--*)	pat="^\.It .*Fl \\\\-${opt#--}( |$)" ;;
		*)	pat="^\.It Fl ${opt#-}( |$)" ;;
		esac
		grep -qE -- "$pat" "$MAN1" ||
		    fail "$opt of a --help is not an .It of pipevisor(1)"
	done
}

@test "libpipevisor(3): the SYNOPSIS declares exactly the functions of pipevisor.h" {
	header=$(grep -oE '\<pv_[a-z0-9_]+\(' "$PV_BUILD/include/pipevisor.h" |
	    tr -d '(' | sort -u)
	page=$(sed -n '/^\.Sh SYNOPSIS/,/^\.Sh DESCRIPTION/p' "$MAN3" |
	    sed -n -E 's/^\.F[no] (pv_[a-z0-9_]+).*/\1/p' | sort -u)
	[ "$(printf '%s\n' "$header" | wc -l)" -gt 50 ]
	assert_equal "$page" "$header"
}
