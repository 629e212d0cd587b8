/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/*
 * apps/cee-audit.c compiled into a fuzz target, unchanged: its main()
 * becomes cee_audit_main() and its static reader (parse_line, read_file,
 * ...) is callable from the target. What it prints on stderr goes to
 * /dev/null, so that only sanitizer reports and failed checks reach the
 * real one; what it prints on stdout (its report) to a temporary file the
 * target may read (fuzz_out_take()).
 */

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static FILE *fuzz_quiet_file;

static inline FILE *fuzz_quiet(void)
{
	if (fuzz_quiet_file == NULL && (fuzz_quiet_file = fopen("/dev/null", "w")) == NULL)
		abort();
	return fuzz_quiet_file;
}

static FILE *fuzz_out_file;

static inline FILE *fuzz_out(void)
{
	if (fuzz_out_file == NULL && (fuzz_out_file = tmpfile()) == NULL)
		abort();
	return fuzz_out_file;
}

/* What cee-audit wrote on stdout since the last call, into @p buf (@p cap
 * bytes, NUL-terminated, cut to fit). @return its length. */
static inline size_t fuzz_out_take(char *buf, size_t cap)
{
	FILE *f = fuzz_out();
	fflush(f);
	long n = ftell(f);
	size_t got = 0;
	if (n > 0) {
		rewind(f);
		got = fread(buf, 1, (size_t)n < cap - 1 ? (size_t)n : cap - 1, f);
	}
	buf[got] = '\0';
	rewind(f);
	if (ftruncate(fileno(f), 0) != 0)
		abort();
	return got;
}

int cee_audit_main(int argc, char **argv);

#pragma push_macro("stderr")
#pragma push_macro("stdout")
#undef stderr
#undef stdout
#define stderr (fuzz_quiet())
#define stdout (fuzz_out())
#define main cee_audit_main
#include "cee-audit.c"
#undef main
#pragma pop_macro("stdout")
#pragma pop_macro("stderr")
