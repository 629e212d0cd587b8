/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/*
 * apps/cee-audit.c compiled into a fuzz target, unchanged: its main()
 * becomes cee_audit_main() and its static reader (parse_line, read_file,
 * ...) is callable from the target. What it prints goes to /dev/null, so
 * that only sanitizer reports and failed checks reach stderr.
 */

#include <stdio.h>
#include <stdlib.h>

static FILE *fuzz_quiet_file;

static inline FILE *fuzz_quiet(void)
{
	if (fuzz_quiet_file == NULL && (fuzz_quiet_file = fopen("/dev/null", "w")) == NULL)
		abort();
	return fuzz_quiet_file;
}

int cee_audit_main(int argc, char **argv);

#pragma push_macro("stderr")
#pragma push_macro("stdout")
#undef stderr
#undef stdout
#define stderr (fuzz_quiet())
#define stdout (fuzz_quiet())
#define main cee_audit_main
#include "cee-audit.c"
#undef main
#pragma pop_macro("stdout")
#pragma pop_macro("stderr")
