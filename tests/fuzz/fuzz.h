/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/*
 * Shared by the libFuzzer targets in tests/fuzz/ (docs/fuzzing.md): the
 * entry points, a reader that turns the fuzzer's bytes into decisions, a
 * check that aborts with a message (libFuzzer saves the input as a crash),
 * and a strict JSON checker for what the engine writes.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* An invariant of the code under test failed: print it and abort (a crash to libFuzzer). */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__,    \
				#cond);                                                            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* The fuzzer's input as a stream of decisions; zeros once it runs out. */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline bool fuzz_more(const struct fuzz_in *in)
{
	return in->left > 0;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t hi = fuzz_u8(in);
	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint32_t hi = fuzz_u16(in);
	return hi << 16 | fuzz_u16(in);
}

/* Up to @p max bytes of the input (fewer at its end): @return how many, at *@p out. */
static inline size_t fuzz_bytes(struct fuzz_in *in, size_t max, const uint8_t **out)
{
	size_t n = max < in->left ? max : in->left;
	*out = in->p;
	in->p += n;
	in->left -= n;
	return n;
}

/* A small deterministic generator (xorshift64), for chunk sizes and the like. */
static inline uint64_t fuzz_rng(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/*
 * Strict JSON (RFC 8259) check of @p n bytes: exactly one value (objects,
 * arrays, strings with valid escapes and UTF-8, numbers, literals), then
 * optional whitespace. @return NULL when valid, else what is wrong.
 */
static inline const char *fuzz_json_value(const char **pp, const char *end, int depth);

static inline void fuzz_json_ws(const char **pp, const char *end)
{
	while (*pp < end && (**pp == ' ' || **pp == '\t' || **pp == '\n' || **pp == '\r'))
		(*pp)++;
}

static inline const char *fuzz_json_string(const char **pp, const char *end)
{
	const unsigned char *p = (const unsigned char *)*pp + 1; // after '"'
	const unsigned char *e = (const unsigned char *)end;
	while (p < e && *p != '"') {
		unsigned c = *p;
		if (c < 0x20)
			return "control character in string";
		if (c == '\\') {
			p++;
			if (p == e)
				return "escape at end";
			if (*p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (p + i >= e || !((p[i] >= '0' && p[i] <= '9') ||
							    (p[i] >= 'a' && p[i] <= 'f') ||
							    (p[i] >= 'A' && p[i] <= 'F')))
						return "bad \\u escape";
				p += 5;
			} else if (strchr("\"\\/bfnrt", *p) != NULL && *p != '\0') {
				p++;
			} else {
				return "bad escape";
			}
			continue;
		}
		if (c < 0x80) {
			p++;
			continue;
		}
		// UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF
		unsigned len, lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else
			return "invalid UTF-8 lead byte";
		if ((size_t)(e - p) < len || p[1] < lo || p[1] > hi)
			return "invalid UTF-8";
		for (unsigned i = 2; i < len; i++)
			if (p[i] < 0x80 || p[i] > 0xbf)
				return "invalid UTF-8 continuation";
		p += len;
	}
	if (p == e)
		return "unterminated string";
	*pp = (const char *)p + 1;
	return NULL;
}

static inline const char *fuzz_json_number(const char **pp, const char *end)
{
	const char *p = *pp;
	if (p < end && *p == '-')
		p++;
	if (p == end || *p < '0' || *p > '9')
		return "bad number";
	if (*p == '0')
		p++;
	else
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	if (p < end && *p == '.') {
		p++;
		if (p == end || *p < '0' || *p > '9')
			return "bad fraction";
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || *p < '0' || *p > '9')
			return "bad exponent";
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	*pp = p;
	return NULL;
}

static inline const char *fuzz_json_value(const char **pp, const char *end, int depth)
{
	const char *err;
	if (depth > 64)
		return "nested too deep";
	fuzz_json_ws(pp, end);
	if (*pp == end)
		return "value expected";
	char c = **pp;
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		(*pp)++;
		fuzz_json_ws(pp, end);
		if (*pp < end && **pp == close) {
			(*pp)++;
			return NULL;
		}
		for (;;) {
			if (c == '{') {
				fuzz_json_ws(pp, end);
				if (*pp == end || **pp != '"')
					return "key expected";
				if ((err = fuzz_json_string(pp, end)) != NULL)
					return err;
				fuzz_json_ws(pp, end);
				if (*pp == end || **pp != ':')
					return "':' expected";
				(*pp)++;
			}
			if ((err = fuzz_json_value(pp, end, depth + 1)) != NULL)
				return err;
			fuzz_json_ws(pp, end);
			if (*pp < end && **pp == ',') {
				(*pp)++;
				continue;
			}
			if (*pp < end && **pp == close) {
				(*pp)++;
				return NULL;
			}
			return "',' or close expected";
		}
	}
	if (c == '"')
		return fuzz_json_string(pp, end);
	if (c == '-' || (c >= '0' && c <= '9'))
		return fuzz_json_number(pp, end);
	static const char *const lits[] = {"true", "false", "null"};
	for (int i = 0; i < 3; i++) {
		size_t n = strlen(lits[i]);
		if ((size_t)(end - *pp) >= n && memcmp(*pp, lits[i], n) == 0) {
			*pp += n;
			return NULL;
		}
	}
	return "unexpected character";
}

/* @return NULL when @p s[0..n) is one JSON value (and whitespace), else what is wrong. */
static inline const char *fuzz_json_check(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	const char *err = fuzz_json_value(&p, end, 0);
	if (err != NULL)
		return err;
	fuzz_json_ws(&p, end);
	return p == end ? NULL : "trailing bytes";
}

/*
 * An anonymous in-memory file that sinks and readers can open by path
 * (/proc/self/fd/N), emptied for each input.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

struct fuzz_file {
	int fd;
	char path[64];
};

static inline void fuzz_file_init(struct fuzz_file *f, const char *name)
{
	if (f->path[0] != '\0')
		return;
	f->fd = memfd_create(name, MFD_CLOEXEC);
	if (f->fd < 0) {
		perror("memfd_create");
		abort();
	}
	snprintf(f->path, sizeof(f->path), "/proc/self/fd/%d", f->fd);
}

/* Empty the file, then write @p n bytes at @p p (n may be 0). */
static inline void fuzz_file_set(struct fuzz_file *f, const void *p, size_t n)
{
	if (ftruncate(f->fd, 0) != 0 || (n > 0 && pwrite(f->fd, p, n, 0) != (ssize_t)n)) {
		perror("fuzz_file_set");
		abort();
	}
}

/* The whole file, NUL-terminated, in a malloc'd buffer (free it); its length in *@p n. */
static inline char *fuzz_file_get(struct fuzz_file *f, size_t *n)
{
	off_t end = lseek(f->fd, 0, SEEK_END);
	char *b = malloc((size_t)end + 1);
	if (end < 0 || b == NULL || pread(f->fd, b, (size_t)end, 0) != (ssize_t)end) {
		perror("fuzz_file_get");
		abort();
	}
	b[end] = '\0';
	*n = (size_t)end;
	return b;
}

/* @p s[0..n) is valid UTF-8 (RFC 3629: no overlong forms, no surrogates, <= U+10FFFF). */
static inline bool fuzz_utf8_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint8_t c = s[i];
		unsigned len, lo = 0x80, hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			lo = c == 0xe0 ? 0xa0 : 0x80;
			hi = c == 0xed ? 0x9f : 0xbf;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			lo = c == 0xf0 ? 0x90 : 0x80;
			hi = c == 0xf4 ? 0x8f : 0xbf;
		} else {
			return false;
		}
		if (n - i < len || s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (unsigned k = 2; k < len; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += len;
	}
	return true;
}

/*
 * Known bugs, reported and not fixed yet, that a long fuzzing run may step
 * around so that it finds others: CEE_FUZZ_KNOWN is a comma-separated list
 * of their names (docs/fuzzing.md lists them). Unset, every check applies:
 * the regression inputs in tests/fuzz/regress/ fail until the bug is fixed.
 */
static inline bool fuzz_known(const char *name)
{
	const char *k = getenv("CEE_FUZZ_KNOWN");
	size_t n = strlen(name);
	while (k != NULL && *k != '\0') {
		const char *end = strchr(k, ',');
		size_t len = end ? (size_t)(end - k) : strlen(k);
		if (len == n && memcmp(k, name, n) == 0)
			return true;
		k = end ? end + 1 : NULL;
	}
	return false;
}
