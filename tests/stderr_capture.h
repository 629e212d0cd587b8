/* SPDX-License-Identifier: BSD-3-Clause */
// What a call writes to stderr, for tests that check an error message (the
// unit and ring tests alike): stderr goes to a temporary file from
// stderr_capture_begin() to stderr_capture_end(), which reads it into a
// buffer and copies it back to stderr (for the test's log).
#pragma once

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

struct stderr_capture {
	FILE *file;
	int saved; // the real stderr
};

/** @return 0, or -errno (stderr is left as it was). */
static inline int stderr_capture_begin(struct stderr_capture *c)
{
	fflush(stderr);
	c->file = tmpfile();
	c->saved = dup(STDERR_FILENO);
	if (c->file == NULL || c->saved < 0 || dup2(fileno(c->file), STDERR_FILENO) < 0) {
		int e = errno ? errno : EIO;
		if (c->saved >= 0)
			close(c->saved);
		if (c->file != NULL)
			fclose(c->file);
		return -e;
	}
	return 0;
}

/** What was written since begin, into @p out (@p size bytes, NUL-terminated, cut to fit). */
static inline void stderr_capture_end(struct stderr_capture *c, char *out, size_t size)
{
	fflush(stderr);
	dup2(c->saved, STDERR_FILENO);
	close(c->saved);
	ssize_t got = pread(fileno(c->file), out, size - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	fclose(c->file);
	fputs(out, stderr);
}
