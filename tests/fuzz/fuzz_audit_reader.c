/* SPDX-License-Identifier: BSD-3-Clause */
// Fuzz target: cee-audit's reader (apps/cee-audit.c, compiled in unchanged
// with its main() renamed): JSON Lines, or the binary sink's file when it
// starts with the magic, from a file whose bytes are the input. The whole
// program runs: format sniffing, the line reader (lines split anywhere, no
// newline at the end, CRs, blanks), parse_line (keys, strings with escapes
// and surrogates, numbers, addresses, xseq ranges), the records it rebuilds
// for the audit, the binary header and records, the audit and its report.
// Options by the input's length: odd --allow-live, bit 1 --json.
// Checked: no crash, no undefined behaviour, no leak, an exit status of
// 0, 1 or 2, and with --json, on 0 or 1, a report that is one strict JSON
// object on one line (review of the fuzz targets: the report was not read).
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "fuzz_audit_app.h"

static struct fuzz_file file;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_file_init(&file, "fuzz-audit-reader");
	fuzz_file_set(&file, data, size);
	char prog[] = "cee-audit", live[] = "--allow-live", json[] = "--json";
	char *argv[5];
	int argc = 0;
	argv[argc++] = prog;
	if (size & 1)
		argv[argc++] = live;
	if (size & 2)
		argv[argc++] = json;
	argv[argc++] = file.path;
	argv[argc] = NULL;
	static char out[1 << 16];
	fuzz_out_take(out, sizeof(out)); // (what an earlier run left)
	int rc = cee_audit_main(argc, argv);
	FUZZ_CHECK(rc == 0 || rc == 1 || rc == 2, "cee-audit exit status %d", rc);
	size_t n = fuzz_out_take(out, sizeof(out));
	if ((size & 2) && rc != 2) {
		FUZZ_CHECK(n > 0 && n < sizeof(out) - 1 && out[n - 1] == '\n',
			   "--json: no whole report line (%zu bytes)", n);
		FUZZ_CHECK(memchr(out, '\n', n - 1) == NULL, "--json: the report spans lines");
		const char *err = fuzz_json_check(out, n - 1);
		FUZZ_CHECK(err == NULL, "--json: the report is not JSON (%s): %s", err, out);
	}
	return 0;
}
