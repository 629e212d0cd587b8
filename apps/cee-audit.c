/* SPDX-License-Identifier: BSD-3-Clause */
// cee-audit: check an exported event stream (JSON Lines, or the binary sink's
// file, told apart by its magic) against the lifecycle contract. Schema 1,
// 2 (extension records: in JSON merged into their event's line, which
// covers the sseq range [xseq .. sseq]) and 3 (dir, link_up, link_down, U32
// extension values; "engine") are all read. Lines of several engines (by
// "engine") are audited per engine.
//
//   cee-audit [--allow-live] [--open-at-syn] [--json] FILE  (FILE "-" reads stdin)
//
// Exit status: 0 the stream is sound, 1 violations, 2 usage or I/O error.
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cee_audit.h"
#include "cee_event.h"
#include "cee_sink.h"

#define BATCH 1024

static void usage(FILE *f)
{
	fprintf(f, "usage: cee-audit [--allow-live] [--open-at-syn] [--json] FILE...\n"
		   "  FILE          JSON Lines or binary event file ('-' for stdin); several\n"
		   "                are one stream in the order given (a file sink's pieces\n"
		   "                rotated at SIGHUP: oldest first)\n"
		   "  --allow-live  connections not yet destroyed are live, not lost, and the\n"
		   "                last FILE may end in a line or record cut short\n"
		   "  --open-at-syn a stream of an engine from before session 13, whose\n"
		   "                accepted connections were announced at the SYN\n"
		   "  --json        print the result as one JSON object\n");
}

/* ---- JSON Lines: a parser for what cee_evt_to_json() and the jsonl sink emit
 * (schema 1 to 3). Extension records are rebuilt from xseq; of their keys,
 * those the audit reads (link, attempt, next_attempt_ms) are put back into
 * them, the others skipped ---- */

struct cursor {
	const char *p;
	const char *end;
};

static void skip_ws(struct cursor *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
		c->p++;
}

static bool eat(struct cursor *c, char ch)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

// A string without escapes (our encoder never emits any). Copies into @p out.
static bool parse_str(struct cursor *c, char *out, size_t len)
{
	if (!eat(c, '"'))
		return false;
	size_t n = 0;
	while (c->p < c->end && *c->p != '"') {
		// (a raw NUL or control byte is no JSON: "open\0x" read "open";
		// the keys and the values read here are ASCII as the writer puts
		// them: a byte above 0x7f, UTF-8 or not, is not the writer's)
		if (*c->p == '\\' || (unsigned char)*c->p < 0x20 || (unsigned char)*c->p > 0x7e ||
		    n + 1 >= len)
			return false;
		out[n++] = *c->p++;
	}
	if (c->p == c->end)
		return false;
	c->p++;
	out[n] = '\0';
	return true;
}

static bool parse_u64(struct cursor *c, uint64_t *v)
{
	skip_ws(c);
	uint64_t x = 0;
	const char *start = c->p;
	// JSON has no leading zeros (the writer puts none: "007" is not its)
	if (c->end - c->p >= 2 && c->p[0] == '0' && c->p[1] >= '0' && c->p[1] <= '9')
		return false;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned d = (unsigned)(*c->p - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
		c->p++;
	}
	*v = x;
	return c->p > start;
}

// Appends code point @p cp as UTF-8 at out[*n], when it fits in @p len.
static bool put_utf8(char *out, size_t len, size_t *n, uint32_t cp)
{
	char b[4];
	size_t k;
	if (cp < 0x80) {
		b[0] = (char)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | cp >> 6);
		b[1] = (char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | cp >> 12);
		b[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		b[0] = (char)(0xf0 | cp >> 18);
		b[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		b[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (*n + k > len)
		return false;
	memcpy(out + *n, b, k);
	*n += k;
	return true;
}

static bool parse_hex4(struct cursor *c, uint32_t *v)
{
	uint32_t x = 0;
	for (int i = 0; i < 4; i++, c->p++) {
		if (c->p == c->end)
			return false;
		char ch = *c->p;
		if (ch >= '0' && ch <= '9')
			x = x << 4 | (uint32_t)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			x = x << 4 | (uint32_t)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			x = x << 4 | (uint32_t)(ch - 'A' + 10);
		else
			return false;
	}
	*v = x;
	return true;
}

// The length of the well-formed UTF-8 sequence at @p p (RFC 3629: no
// overlong form, no surrogate, at most U+10FFFF), 0 when there is none.
static size_t utf8_seq(const char *p, const char *end)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t left = (size_t)(end - p);
	if (u[0] < 0x80)
		return 1;
	size_t n;
	uint32_t cp;
	if (u[0] >= 0xc2 && u[0] <= 0xdf)
		n = 2, cp = u[0] & 0x1f;
	else if (u[0] >= 0xe0 && u[0] <= 0xef)
		n = 3, cp = u[0] & 0x0f;
	else if (u[0] >= 0xf0 && u[0] <= 0xf4)
		n = 4, cp = u[0] & 0x07;
	else
		return 0;
	if (left < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((u[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (u[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

// One character of a JSON string at c->p (not its closing quote): an
// escape, checked (and decoded into *cp when @p cp), or a byte that is not
// a control byte, or a well-formed UTF-8 sequence (copied to @p raw).
// @return bytes taken, 0 when it is no JSON.
static size_t str_char(struct cursor *c, uint32_t *cp, size_t *raw)
{
	const char *p = c->p;
	if ((unsigned char)*p < 0x20)
		return 0; // a raw control byte (NUL too): escaped in JSON
	if (*p != '\\') {
		size_t n = utf8_seq(p, c->end);
		*raw = n;
		c->p += n;
		return n;
	}
	*raw = 0;
	if (c->end - p < 2)
		return 0;
	uint32_t x;
	switch (p[1]) {
	case '"':
	case '\\':
	case '/':
		x = (uint8_t)p[1];
		break;
	case 'b':
		x = '\b';
		break;
	case 'f':
		x = '\f';
		break;
	case 'n':
		x = '\n';
		break;
	case 'r':
		x = '\r';
		break;
	case 't':
		x = '\t';
		break;
	case 'u': {
		struct cursor h = {p + 2, c->end};
		if (!parse_hex4(&h, &x))
			return 0;
		if (x >= 0xd800 && x <= 0xdbff) {
			// A surrogate pair: the low half must follow.
			uint32_t lo;
			if (h.end - h.p < 2 || h.p[0] != '\\' || h.p[1] != 'u')
				return 0;
			h.p += 2;
			if (!parse_hex4(&h, &lo) || lo < 0xdc00 || lo > 0xdfff)
				return 0;
			x = 0x10000 + ((x - 0xd800) << 10) + (lo - 0xdc00);
		} else if (x >= 0xdc00 && x <= 0xdfff) {
			return 0;
		}
		c->p = h.p;
		if (cp != NULL)
			*cp = x;
		return (size_t)(h.p - p);
	}
	default:
		return 0;
	}
	c->p += 2;
	if (cp != NULL)
		*cp = x;
	return 2;
}

// A string with escapes (RFC 8259 section 7), decoded into @p out (no NUL
// added): an extension value. At most @p len bytes, else false.
static bool parse_str_esc(struct cursor *c, char *out, size_t len, size_t *n)
{
	if (!eat(c, '"'))
		return false;
	*n = 0;
	while (c->p < c->end && *c->p != '"') {
		const char *at = c->p;
		uint32_t cp = 0;
		size_t raw = 0;
		if (str_char(c, &cp, &raw) == 0)
			return false;
		if (raw > 0) {
			if (*n + raw > len)
				return false;
			memcpy(out + *n, at, raw);
			*n += raw;
		} else if (!put_utf8(out, len, n, cp)) {
			return false;
		}
	}
	if (c->p == c->end)
		return false;
	c->p++;
	return true;
}

// Skips a string with any escapes and any length (extension values: SNI,
// subjects, ciphers).
static bool skip_str(struct cursor *c)
{
	if (!eat(c, '"'))
		return false;
	// (each character checked: a bad escape, a raw control byte or bytes
	// that are not UTF-8 made a line no JSON reader takes, and it passed)
	while (c->p < c->end && *c->p != '"') {
		size_t raw;
		if (str_char(c, NULL, &raw) == 0)
			return false;
	}
	if (c->p == c->end)
		return false;
	c->p++;
	return true;
}

// Skips a value of a field we do not know: a string, a JSON number, true,
// false or null (what the writer puts). Anything else up to the next ',' or
// '}' was taken too: a line the writer could not have made passed.
static bool skip_value(struct cursor *c)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == '"')
		return skip_str(c);
	static const char *const lit[] = {"true", "false", "null"};
	for (size_t i = 0; i < sizeof(lit) / sizeof(lit[0]); i++) {
		size_t n = strlen(lit[i]);
		if ((size_t)(c->end - c->p) >= n && memcmp(c->p, lit[i], n) == 0) {
			c->p += n;
			return true;
		}
	}
	// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
	const char *p = c->p, *e = c->end;
	if (p < e && *p == '-')
		p++;
	if (p < e && *p == '0')
		p++;
	else if (p < e && *p >= '1' && *p <= '9')
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	else
		return false;
	if (p < e && *p == '.') {
		const char *d = ++p;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
		if (p == d)
			return false;
	}
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		const char *d = p;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
		if (p == d)
			return false;
	}
	c->p = p;
	return true;
}

static bool parse_hex64(const char *s, uint64_t *v)
{
	uint64_t x = 0;
	size_t n = 0;
	for (; s[n] != '\0'; n++) {
		char ch = s[n];
		unsigned d;
		if (ch >= '0' && ch <= '9')
			d = (unsigned)(ch - '0');
		else if (ch >= 'a' && ch <= 'f')
			d = (unsigned)(ch - 'a' + 10);
		else if (ch >= 'A' && ch <= 'F')
			d = (unsigned)(ch - 'A' + 10);
		else
			return false;
		x = x << 4 | d;
	}
	*v = x;
	return n >= 1 && n <= 16;
}

static bool parse_dec(const char **s, unsigned max, unsigned *v)
{
	unsigned x = 0;
	const char *p = *s;
	if (p[0] == '0' && p[1] >= '0' && p[1] <= '9')
		return false; // "010.00.0.1:0007" is not the writer's
	while (*p >= '0' && *p <= '9') {
		x = x * 10 + (unsigned)(*p - '0');
		if (x > max)
			return false;
		p++;
	}
	if (p == *s)
		return false;
	*s = p;
	*v = x;
	return true;
}

// "a.b.c.d:port" into host byte order.
static bool parse_addr(const char *s, uint32_t *ip, uint16_t *port)
{
	uint32_t a = 0;
	unsigned o;
	for (int i = 0; i < 4; i++) {
		if (!parse_dec(&s, 255, &o))
			return false;
		a = a << 8 | o;
		if (*s++ != (i < 3 ? '.' : ':'))
			return false;
	}
	if (!parse_dec(&s, 65535, &o) || *s != '\0')
		return false;
	*ip = a;
	*port = (uint16_t)o;
	return true;
}

enum {
	F_V = 1u << 0,
	F_TYPE = 1u << 1,
	F_CONN = 1u << 2,
	F_SSEQ = 1u << 3,
	F_CSEQ = 1u << 4,
	F_XSEQ = 1u << 5,
	F_OF = 1u << 6,
	F_SHARD = 1u << 7,
	F_TS = 1u << 8,
	F_PROTO = 1u << 9,
	F_LOCAL = 1u << 10,
	F_REMOTE = 1u << 11,
	F_DIR = 1u << 12,
	F_REASON = 1u << 13,
	F_BYTES_IN = 1u << 14,
	F_BYTES_OUT = 1u << 15,
	F_DURATION = 1u << 16,
};

// The keys every writer (schema 1 on) put on a line of each kind, by the
// bit of `have`; a line without one is not the writer's (docs/events.md,
// Fields), and read with a default (proto tcp, address 0.0.0.0:0, reason
// none) it would be audited as an event it never was.
static const struct {
	unsigned bit;
	const char *key;
} line_keys[] = {
	{F_V, "v"},	      {F_TYPE, "type"},		  {F_OF, "of"},
	{F_CONN, "conn"},     {F_SHARD, "shard"},	  {F_SSEQ, "sseq"},
	{F_CSEQ, "cseq"},     {F_TS, "ts_ns"},		  {F_PROTO, "proto"},
	{F_DIR, "dir"},	      {F_LOCAL, "local"},	  {F_REMOTE, "remote"},
	{F_REASON, "reason"}, {F_BYTES_IN, "bytes_in"},	  {F_BYTES_OUT, "bytes_out"},
	{F_DURATION, "duration_ns"},
};

// The keys a line must have: an "ext" line (extension records the sink
// could not merge), or an event of @p type in schema @p v.
static unsigned keys_required(bool ext, uint8_t type, uint8_t v)
{
	if (ext)
		return F_V | F_TYPE | F_OF | F_CONN | F_SHARD | F_SSEQ;
	unsigned k = F_V | F_TYPE | F_CONN | F_SHARD | F_SSEQ | F_CSEQ | F_TS | F_PROTO |
		     F_LOCAL | F_REMOTE;
	if (type == CEE_EVT_OPEN && v >= 3)
		k |= F_DIR; // schema 3: every open says which way it goes
	if (type == CEE_EVT_CLOSED)
		k |= F_REASON | F_BYTES_IN | F_BYTES_OUT | F_DURATION;
	if (type == CEE_EVT_LINK_DOWN)
		k |= F_REASON; // its closed's
	return k;
}

// Bytes of a group's values (what a group of CEE_EVT_EXT_MAX records holds).
#define EXT_VAL_MAX (CEE_EVT_EXT_MAX * CEE_EVT_EXT_DATA)

// One line: an event, or (ext) extension records on their own; xseq: the
// sseq of the first record the line covers (schema 2), else sseq. The
// extension keys the audit reads (schema 3: the link ones), to be put back
// into the records rebuilt from the line.
struct line_rec {
	struct cee_event e;
	uint64_t xseq;
	bool ext;
	uint8_t of;
	bool has_attempt, has_next_attempt;
	uint32_t attempt, next_attempt_ms;
	size_t link_len; // 0: no link key
	char link[3 * EXT_VAL_MAX]; // decoded: a byte printed as \ufffd comes back as 3
	char engine[CEE_ENGINE_ID_MAX + 1]; // "" when the line has none
	char run[CEE_RUN_ID_MAX + 1];	    // "" when the line has none
	uint8_t v; // its schema version
	// the audit's name, "ENGINE" or "ENGINE/RUN"
	char audit_id[CEE_ENGINE_ID_MAX + CEE_RUN_ID_MAX + 2];
};

// The reason of a line whose name is none of CEE_REASON_LIST's: past them
// all (in a binary record, any number past them means the same).
#define REASON_UNKNOWN UINT8_MAX
_Static_assert(CEE_REASON__COUNT < REASON_UNKNOWN, "room for REASON_UNKNOWN");

// Could @p s be a reason's name, as the writer prints them?
static bool reason_name(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

// The number an unknown reason's name stands for: one of its own from 254
// down, the same for the same name (two different unknown names were one,
// 255, and a closed and its link_down that disagreed passed), 255 once
// those run out. By name alone ("reason_N" too, the JSON writers' name for
// a number they do not know): read back as N, it met a name given N here.
static uint8_t unknown_reason_code(const char *s)
{
	static char names[64][48];
	static unsigned nnames;
	for (unsigned i = 0; i < nnames; i++)
		if (strcmp(names[i], s) == 0)
			return (uint8_t)(REASON_UNKNOWN - 1 - i);
	if (nnames < 64 && REASON_UNKNOWN - 1 - nnames >= CEE_REASON__COUNT &&
	    strlen(s) < sizeof(names[0])) {
		snprintf(names[nnames], sizeof(names[0]), "%s", s);
		return (uint8_t)(REASON_UNKNOWN - 1 - nnames++);
	}
	return REASON_UNKNOWN;
}

static const char *type_name_str(uint8_t t)
{
	return cee_evt_type_str((enum cee_evt_type)t);
}

// @return NULL on success, or what is wrong with the line.
// A key the line has: twice is no line of the writer's ("sseq":9 then
// "sseq":4 read as 4, the gap hidden; RFC 8259 leaves duplicate names to
// the reader).
#define HAVE(f)                                                                                    \
	do {                                                                                       \
		if (have & (f))                                                                    \
			return "duplicate key";                                                    \
		have |= (f);                                                                       \
	} while (0)

static const char *parse_line(const char *line, size_t len, struct line_rec *lr)
{
	struct cursor c = {line, line + len};
	struct cee_event *e = &lr->e;
	char key[32], sval[64];
	unsigned have = 0;
	uint64_t v, shard = UINT64_MAX;
	int dir = -1; // schema 3: 1 out, 0 in, -1 absent

	memset(lr, 0, sizeof(*lr));
	if (!eat(&c, '{'))
		return "expected '{'";
	if (eat(&c, '}'))
		return "empty object";
	do {
		if (!parse_str(&c, key, sizeof(key)))
			return "bad key";
		if (!eat(&c, ':'))
			return "expected ':'";
		if (strcmp(key, "type") == 0 || strcmp(key, "conn") == 0 ||
		    strcmp(key, "proto") == 0 || strcmp(key, "local") == 0 ||
		    strcmp(key, "remote") == 0 || strcmp(key, "reason") == 0 ||
		    strcmp(key, "of") == 0 || strcmp(key, "dir") == 0) {
			if (!parse_str(&c, sval, sizeof(sval)))
				return "bad string value";
			if (strcmp(key, "type") == 0) {
				int t = strcmp(sval, "ext") == 0 ? CEE_EVT_EXT : cee_evt_type_parse(sval);
				if (t < 0)
					return "unknown type";
				e->type = (uint8_t)t;
				lr->ext = t == CEE_EVT_EXT;
				HAVE(F_TYPE);
			} else if (strcmp(key, "of") == 0) {
				int t = cee_evt_type_parse(sval);
				// An unknown "of" is kept out of range: the audit flags it.
				lr->of = t < 0 ? UINT8_MAX : (uint8_t)t;
				HAVE(F_OF);
			} else if (strcmp(key, "conn") == 0) {
				// as the writer puts it: 16 lowercase hex digits (a
				// short or upper-case id was taken for the same one)
				if (strlen(sval) != 16 || strspn(sval, "0123456789abcdef") != 16 ||
				    !parse_hex64(sval, &e->conn))
					return "bad conn (16 lowercase hex digits)";
				HAVE(F_CONN);
			} else if (strcmp(key, "proto") == 0) {
				int p = -1;
				for (int i = 0; i < CEE_PROTO__COUNT; i++)
					if (strcmp(sval, cee_proto_str((enum cee_proto)i)) == 0)
						p = i;
				if (p < 0)
					return "unknown proto";
				e->proto = (uint8_t)p;
				HAVE(F_PROTO);
			} else if (strcmp(key, "dir") == 0) {
				if (strcmp(sval, "in") == 0)
					dir = 0;
				else if (strcmp(sval, "out") == 0)
					dir = 1;
				else
					return "unknown dir";
				HAVE(F_DIR);
			} else if (strcmp(key, "local") == 0) {
				if (!parse_addr(sval, &e->local_ip, &e->local_port))
					return "bad local address";
				HAVE(F_LOCAL);
			} else if (strcmp(key, "remote") == 0) {
				if (!parse_addr(sval, &e->remote_ip, &e->remote_port))
					return "bad remote address";
				HAVE(F_REMOTE);
			} else {
				// A name this reader does not know is a newer engine's
				// reason (appended within a schema version): taken, as
				// one past the known ones, and counted by the audit
				// (unknown_reason). Not a name at all is bad input.
				int r = cee_reason_parse(sval);
				if (r < 0 && !reason_name(sval))
					return "bad reason (not a reason's name: [a-z][a-z0-9_]*)";
				e->reason = r < 0 ? unknown_reason_code(sval) : (uint8_t)r;
				HAVE(F_REASON);
			}
		} else if (strcmp(key, "v") == 0 || strcmp(key, "shard") == 0 ||
			   strcmp(key, "sseq") == 0 || strcmp(key, "cseq") == 0 ||
			   strcmp(key, "ts_ns") == 0 || strcmp(key, "bytes_in") == 0 ||
			   strcmp(key, "bytes_out") == 0 || strcmp(key, "duration_ns") == 0 ||
			   strcmp(key, "xseq") == 0) {
			if (!parse_u64(&c, &v))
				return "bad number";
			if (strcmp(key, "v") == 0) {
				// 1: lifecycle events only; 2: adds extension keys and
				// xseq; 3: adds dir, link_up, link_down and U32 values.
				if (v < 1 || v > CEE_EVT_SCHEMA_VERSION)
					return "unsupported schema version";
				lr->v = (uint8_t)v;
				HAVE(F_V);
			} else if (strcmp(key, "xseq") == 0) {
				lr->xseq = v;
				HAVE(F_XSEQ);
			} else if (strcmp(key, "shard") == 0) {
				shard = v;
				HAVE(F_SHARD);
			} else if (strcmp(key, "sseq") == 0) {
				e->sseq = v;
				HAVE(F_SSEQ);
			} else if (strcmp(key, "cseq") == 0) {
				if (v > UINT8_MAX)
					return "cseq out of range";
				e->cseq = (uint8_t)v;
				HAVE(F_CSEQ);
			} else if (strcmp(key, "ts_ns") == 0) {
				e->ts_ns = v;
				HAVE(F_TS);
			} else if (strcmp(key, "bytes_in") == 0) {
				e->bytes_in = v;
				HAVE(F_BYTES_IN);
			} else if (strcmp(key, "bytes_out") == 0) {
				e->bytes_out = v;
				HAVE(F_BYTES_OUT);
			} else {
				e->duration_ns = v;
				HAVE(F_DURATION);
			}
		} else if (strcmp(key, "engine") == 0) {
			if (lr->engine[0] != '\0')
				return "duplicate key";
			if (!parse_str(&c, lr->engine, sizeof(lr->engine)) ||
			    !cee_engine_id_valid(lr->engine))
				return "bad engine";
		} else if (strcmp(key, "run") == 0) {
			if (lr->run[0] != '\0')
				return "duplicate key";
			if (!parse_str(&c, lr->run, sizeof(lr->run)) || !cee_engine_id_valid(lr->run))
				return "bad run";
		} else if (strcmp(key, "link") == 0) {
			if (lr->link_len != 0)
				return "duplicate key";
			if (!parse_str_esc(&c, lr->link, sizeof(lr->link), &lr->link_len))
				return "bad link";
		} else if (strcmp(key, "attempt") == 0 || strcmp(key, "next_attempt_ms") == 0) {
			if (!parse_u64(&c, &v) || v > UINT32_MAX)
				return "bad number";
			if (strcmp(key, "attempt") == 0 ? lr->has_attempt : lr->has_next_attempt)
				return "duplicate key";
			if (strcmp(key, "attempt") == 0) {
				lr->attempt = (uint32_t)v;
				lr->has_attempt = true;
			} else {
				lr->next_attempt_ms = (uint32_t)v;
				lr->has_next_attempt = true;
			}
		} else if (!skip_value(&c)) {
			return "bad value";
		}
	} while (eat(&c, ','));
	if (!eat(&c, '}'))
		return "expected ',' or '}'";
	skip_ws(&c);
	if (c.p != c.end)
		return "trailing characters";
	if (!(have & F_TYPE))
		return "missing field \"type\"";
	unsigned need = keys_required(lr->ext, e->type, lr->v);
	if ((have & need) != need) {
		// (one line at a time, and the message is printed before the next)
		static char missing[96];
		for (size_t i = 0; i < sizeof(line_keys) / sizeof(line_keys[0]); i++)
			if ((need & ~have) & line_keys[i].bit) {
				snprintf(missing, sizeof(missing),
					 "missing field \"%s\" (required on every %s line%s)",
					 line_keys[i].key, lr->ext ? "ext" : type_name_str(e->type),
					 line_keys[i].bit == F_DIR ? " of schema 3" : "");
				break;
			}
		return missing;
	}
	if (lr->ext) {
		if (!(have & F_XSEQ))
			lr->xseq = e->sseq;
		// The records it covers: [xseq .. sseq], one group at most.
		if (lr->xseq == 0 || lr->xseq > e->sseq || e->sseq - lr->xseq >= CEE_EVT_EXT_MAX)
			return "xseq out of range";
	} else {
		if (!(have & F_XSEQ))
			lr->xseq = e->sseq;
		// Extension records [xseq .. sseq - 1], then the event at sseq.
		if (lr->xseq == 0 || lr->xseq > e->sseq || e->sseq - lr->xseq > CEE_EVT_EXT_MAX ||
		    ((have & F_XSEQ) && lr->xseq == e->sseq))
			return "xseq out of range";
	}
	if (shard != UINT64_MAX && shard != cee_id_shard(e->conn))
		return "shard does not match conn id";
	if (dir == 1)
		e->proto |= CEE_PROTO_F_OUT;
	return NULL;
}

// The TLVs of the keys the audit reads, packed as the producer's builder
// would; @return the records, at most CEE_EVT_EXT_MAX (0: no such key).
static unsigned line_tlvs(const struct line_rec *lr, struct cee_ext_builder *b)
{
	cee_ext_begin(b, lr->e.conn, (enum cee_evt_type)lr->e.type);
	cee_ext_put(b, CEE_EXT_LINK, lr->link, (uint32_t)lr->link_len);
	if (lr->has_attempt)
		cee_ext_put_u32(b, CEE_EXT_ATTEMPT, lr->attempt);
	if (lr->has_next_attempt)
		cee_ext_put_u32(b, CEE_EXT_NEXT_ATTEMPT_MS, lr->next_attempt_ms);
	return cee_ext_end(b);
}

// The records a line stands for, as the binary sink would have them: the
// audit then checks sseq ranges and groups the same way for both formats.
// An event line with xseq: a complete group, then the event; the group's
// records carry the keys the audit reads (the link name of link_up and
// link_down), in as many of them as they take (the producer's records held
// at least those keys). An "ext" line (records the sink could not merge):
// records with no valid group shape, so the audit counts them as broken.
// @return records written at @p out (room for CEE_EVT_EXT_MAX + 1).
static uint32_t line_records(const struct line_rec *lr, struct cee_event *out)
{
	uint64_t last = lr->ext ? lr->e.sseq + 1 : lr->e.sseq;
	uint32_t n = 0, parts = (uint32_t)(last - lr->xseq);
	struct cee_ext_builder b;
	unsigned ntlv = lr->ext || parts == 0 ? 0 : line_tlvs(lr, &b);

	for (uint64_t s = lr->xseq; s < last; s++, n++) {
		union cee_record r;
		memset(&r, 0, sizeof(r));
		r.ext.sseq = s;
		r.ext.conn = lr->e.conn;
		r.ext.type = CEE_EVT_EXT;
		r.ext.of = lr->ext ? lr->of : lr->e.type;
		r.ext.part = (uint8_t)n;
		r.ext.parts = lr->ext ? 0 : (uint8_t)parts;
		if (n < ntlv)
			memcpy(r.ext.data, b.rec[n].ext.data, sizeof(r.ext.data));
		memcpy(&out[n], &r, sizeof(out[n]));
	}
	if (!lr->ext)
		out[n++] = lr->e;
	return n;
}

// Line reader over a FILE that may be a pipe: starts with the bytes already
// taken to sniff the format.
struct lines {
	FILE *in;
	char *buf;
	size_t cap, start, end;
	bool eof;
};

// @return 1 with a line (without '\n') in @p line/@p len, 0 at end, -errno.
// A line of the writer is a few KiB at most (an event and its extension
// group); a longer one is not a cee stream, and was read whole into memory.
#define LINE_MAX_BYTES (1u << 20)

static int next_line(struct lines *lr, char **line, size_t *len)
{
	for (;;) {
		char *nl = memchr(lr->buf + lr->start, '\n', lr->end - lr->start);
		if (nl != NULL) {
			*line = lr->buf + lr->start;
			*len = (size_t)(nl - *line);
			lr->start += *len + 1;
			return 1;
		}
		if (lr->eof) {
			if (lr->start == lr->end)
				return 0;
			*line = lr->buf + lr->start;
			*len = lr->end - lr->start;
			lr->start = lr->end;
			return 1;
		}
		// Make room: slide the partial line down, grow if it fills the buffer.
		memmove(lr->buf, lr->buf + lr->start, lr->end - lr->start);
		lr->end -= lr->start;
		lr->start = 0;
		if (lr->end >= LINE_MAX_BYTES)
			return -E2BIG; /* no writer's line: the whole input was buffered */
		if (lr->end == lr->cap) {
			char *nb = realloc(lr->buf, lr->cap * 2);
			if (nb == NULL)
				return -ENOMEM;
			lr->buf = nb;
			lr->cap *= 2;
		}
		size_t got = fread(lr->buf + lr->end, 1, lr->cap - lr->end, lr->in);
		lr->end += got;
		if (got == 0) {
			if (ferror(lr->in))
				return -EIO;
			lr->eof = true;
		}
	}
}

/*
 * Several engines in one stream (a JetStream stream several engines publish
 * to, read back by cee-tail): each engine's records are audited on their
 * own, since connection ids and sseq are per engine. Lines without an
 * "engine" key (schema 3 before engine ids, binary files before version 4)
 * form the engine "". A line with a "run" (an engine given its id keeps it
 * across restarts, and says which run) belongs to the audit "ENGINE/RUN".
 * In a binary file of version 4 each run record starts
 * an audit of its own, named by its engine id ("ID#2" for the second run of
 * one id: a restarted engine given the same id starts its sseq again).
 * Runs never interleave, so a run's audit is finished when the next run
 * begins and only its result and the text of its violations are kept: a
 * file holds any number of runs. The engines of JSON Lines interleave and
 * are audited side by side, at most ENGINES_LIVE of them.
 */
#define ENGINES_LIVE 256

struct engine_live {
	struct cee_audit *a;
	struct cee_event *batch; // JSON Lines: BATCH records fed at once
	uint32_t n;
	uint8_t v; // JSON Lines: the schema of its lines (0: none yet)
};

struct engine_audit {
	char id[CEE_ENGINE_ID_MAX + CEE_RUN_ID_MAX + 12];
	struct engine_live *live; // NULL once finished
	struct cee_audit_result res;
	char *violations; // the finished audit's, as cee_audit_print_violations() prints them
	size_t violations_len;
	uint64_t seen; // JSON Lines: when its last line came (jsonl_seen)
};

static struct engine_audit **engines;
static unsigned nengines, engines_cap, nlive;
static struct engine_audit *last_audit; // JSON Lines: the audit of the last line
static uint64_t jsonl_seen;             // JSON Lines: lines of a new audit so far
static bool allow_live;
static bool open_at_syn; // an older engine's stream (cee_audit_open_at_syn())

// Runs seen per engine id in a binary file, for "ID#N" without a scan of
// every earlier run (the default engine id is random per run, so a file of
// many runs has about as many ids): open addressing, grown at half full.
struct run_count {
	char id[CEE_ENGINE_ID_MAX + 1];
	unsigned n; // 0: a free slot
};
static struct run_count *run_counts;
static size_t run_counts_cap, run_counts_used;

static size_t id_hash(const char *s)
{
	uint64_t h = 14695981039346656037ull; // FNV-1a
	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return (size_t)h;
}

static struct run_count *run_count_slot(struct run_count *t, size_t cap, const char *id)
{
	size_t i = id_hash(id) & (cap - 1);
	while (t[i].n != 0 && strcmp(t[i].id, id) != 0)
		i = (i + 1) & (cap - 1);
	return &t[i];
}

// The count of runs of @p id (0 for a new id), to be incremented by the
// caller. NULL: no memory.
static unsigned *run_count_of(const char *id)
{
	if ((run_counts_used + 1) * 2 > run_counts_cap) {
		size_t cap = run_counts_cap ? run_counts_cap * 2 : 64;
		struct run_count *t = calloc(cap, sizeof(*t));
		if (t == NULL)
			return NULL;
		for (size_t i = 0; i < run_counts_cap; i++)
			if (run_counts[i].n != 0)
				*run_count_slot(t, cap, run_counts[i].id) = run_counts[i];
		free(run_counts);
		run_counts = t;
		run_counts_cap = cap;
	}
	struct run_count *rc = run_count_slot(run_counts, run_counts_cap, id);
	if (rc->n == 0) {
		snprintf(rc->id, sizeof(rc->id), "%s", id);
		run_counts_used++;
	}
	return &rc->n;
}

// A new audit named @p id, or "@p id#N" for the Nth of that id (@p nth > 1).
// NULL: ENGINES_LIVE audits at once, or no memory.
static struct engine_audit *engine_add(const char *id, unsigned nth)
{
	if (nlive == ENGINES_LIVE)
		return NULL;
	if (nengines == engines_cap) {
		unsigned cap = engines_cap ? engines_cap * 2 : 16;
		struct engine_audit **ne = realloc(engines, cap * sizeof(*ne));
		if (ne == NULL)
			return NULL;
		engines = ne;
		engines_cap = cap;
	}
	struct engine_audit *ea = calloc(1, sizeof(*ea));
	if (ea == NULL || (ea->live = calloc(1, sizeof(*ea->live))) == NULL ||
	    (ea->live->a = cee_audit_create()) == NULL) {
		if (ea != NULL)
			free(ea->live);
		free(ea);
		return NULL;
	}
	cee_audit_open_at_syn(ea->live->a, open_at_syn);
	if (nth <= 1)
		snprintf(ea->id, sizeof(ea->id), "%s", id);
	else
		snprintf(ea->id, sizeof(ea->id), "%s#%u", id, nth);
	engines[nengines++] = ea;
	nlive++;
	return ea;
}

// The audit named @p id, NULL when none.
static struct engine_audit *engine_find(const char *id)
{
	for (unsigned i = 0; i < nengines; i++)
		if (strcmp(engines[i]->id, id) == 0)
			return engines[i];
	return NULL;
}

// The live audit of engine @p id, created on first use (and again after a
// run of that id was finished: a version 4 file's run of engine "", then a
// version 3 file, read a finished audit's freed state). NULL: too many or
// no memory.
static struct engine_audit *engine_get(const char *id)
{
	for (unsigned i = nengines; i > 0; i--)
		if (engines[i - 1]->live != NULL && strcmp(engines[i - 1]->id, id) == 0)
			return engines[i - 1];
	return engine_add(id, 1);
}

static int engine_finish(struct engine_audit *ea, bool live_ok);

// The audit of a JSON line's @p id ("ENGINE" or "ENGINE/RUN"). Runs of one
// engine follow each other (a restart), so when ENGINES_LIVE audits are
// live a new run of an engine finishes that engine's oldest live run to
// make room: a stream of any number of restarts audits (it stopped at 256).
// A line of a run finished so comes back with its audit not live: the
// caller says so. NULL: too many engines at once, or no memory.
static struct engine_audit *jsonl_audit(const char *id)
{
	if (last_audit != NULL && strcmp(last_audit->id, id) == 0)
		return last_audit;
	struct engine_audit *found = engine_find(id);
	if (found != NULL) {
		found->seen = ++jsonl_seen;
		return last_audit = found;
	}
	const char *slash = strchr(id, '/');
	if (nlive == ENGINES_LIVE && slash != NULL) {
		size_t el = (size_t)(slash - id);
		for (unsigned i = 0; i < nengines; i++) {
			struct engine_audit *e = engines[i];
			if (e->live != NULL && strncmp(e->id, id, el) == 0 && e->id[el] == '/') {
				if (engine_finish(e, false) < 0) // (ended: its engine runs again)
					return NULL;
				break;
			}
		}
	}
	if (nlive == ENGINES_LIVE) {
		// Engine ids without a run id (the default one is random per run:
		// each restart a new id): the audit seen longest ago with nothing
		// open finishes to make room (a file sink appended to by its 257th
		// start exited 2, "more than 256 engines"). A later line of it is
		// said, as for a run finished above.
		struct engine_audit *old = NULL;
		for (unsigned i = 0; i < nengines; i++) {
			struct engine_audit *e = engines[i];
			if (e->live == NULL || (old != NULL && e->seen >= old->seen))
				continue;
			struct engine_live *l = e->live;
			if (l->n != 0) { // (its batch first: what is open)
				cee_audit_feed(l->a, l->batch, l->n);
				l->n = 0;
			}
			if (cee_audit_idle(l->a))
				old = e;
		}
		if (old != NULL && engine_finish(old, false) < 0)
			return NULL;
	}
	struct engine_audit *ea = engine_add(id, 1);
	if (ea != NULL)
		ea->seen = ++jsonl_seen;
	return last_audit = ea;
}

// A new audit for a binary file's run of engine @p id. NULL: no memory.
static struct engine_audit *engine_new_run(const char *id)
{
	unsigned *same = run_count_of(id);
	if (same == NULL)
		return NULL;
	struct engine_audit *ea = engine_add(id, *same + 1);
	if (ea != NULL)
		(*same)++;
	return ea;
}

// Finish @p ea's audit: feed what is batched, keep the result and the text
// of the violations, free the audit. @p live_ok: connections still open are
// allowed (--allow-live, and the run may still be going on); a run that a
// later run of its engine followed has ended, and never is (its open
// connections' closed can never come: lost). @return 0 or -ENOMEM.
static int engine_finish(struct engine_audit *ea, bool live_ok)
{
	struct engine_live *l = ea->live;
	if (l == NULL)
		return 0;
	if (l->n != 0)
		cee_audit_feed(l->a, l->batch, l->n);
	cee_audit_finish(l->a, live_ok, &ea->res);
	FILE *m = open_memstream(&ea->violations, &ea->violations_len);
	if (m == NULL)
		return -ENOMEM;
	cee_audit_print_violations(l->a, m);
	if (fclose(m) != 0)
		return -ENOMEM;
	cee_audit_destroy(l->a);
	free(l->batch);
	free(l);
	ea->live = NULL;
	nlive--;
	return 0;
}

// A later audit of the same engine follows audit @p i (ids ENGINE/RUN): its
// run has ended.
static bool superseded(unsigned i)
{
	const char *id = engines[i]->id, *slash = strchr(id, '/');
	if (slash == NULL)
		return false;
	size_t el = (size_t)(slash - id);
	for (unsigned j = i + 1; j < nengines; j++)
		if (strncmp(engines[j]->id, id, el) == 0 && engines[j]->id[el] == '/')
			return true;
	return false;
}

static void engines_free(void)
{
	last_audit = NULL;
	jsonl_seen = 0;
	for (unsigned i = 0; i < nengines; i++) {
		if (engines[i]->live != NULL) {
			cee_audit_destroy(engines[i]->live->a);
			free(engines[i]->live->batch);
		}
		free(engines[i]->live);
		free(engines[i]->violations);
		free(engines[i]);
	}
	free(engines);
	engines = NULL;
	nengines = engines_cap = nlive = 0;
	free(run_counts);
	run_counts = NULL;
	run_counts_cap = run_counts_used = 0;
}

// @p last: the last FILE of the command line, the only one whose end may
// be cut short by an engine still writing it (--allow-live).
static int read_jsonl(FILE *in, const char *name, const char *prefix, size_t plen, bool last)
{
	struct lines lr = {.in = in, .cap = 1 << 20};
	struct line_rec rec;
	uint64_t lineno = 0;
	char *line;
	size_t len;
	int rc;

	lr.buf = malloc(lr.cap);
	if (lr.buf == NULL)
		return -ENOMEM;
	memcpy(lr.buf, prefix, plen);
	lr.end = plen;

	while ((rc = next_line(&lr, &line, &len)) > 0) {
		lineno++;
		while (len > 0 && line[len - 1] == '\r')
			len--;
		size_t i = 0;
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len)
			continue; // blank line
		const char *err = parse_line(line, len, &rec);
		bool at_end = lr.eof && lr.start == lr.end && line + len == lr.buf + lr.end;
		if (err != NULL && allow_live && last && at_end) {
			// the last line, without its newline, of a stream read while
			// the engine runs: the rest of it is still being written
			fprintf(stderr, "cee-audit: %s:%" PRIu64 ": the last line is cut (%s): "
					"left out, as the engine is still writing it (--allow-live)\n",
				name, lineno, err);
			rc = 0;
			break;
		}
		if (err != NULL) {
			// (an earlier FILE is a finished piece: its end cut short is
			// damage, not a line still being written)
			fprintf(stderr, "cee-audit: %s:%" PRIu64 ": %s%s\n", name, lineno, err,
				allow_live && at_end ? " (the last line of a FILE before the last: "
						       "only the last FILE may end cut short)"
						     : "");
			rc = -EINVAL;
			break;
		}
		if (rec.run[0] != '\0') {
			if (rec.engine[0] == '\0') {
				fprintf(stderr, "cee-audit: %s:%" PRIu64 ": a run without an engine\n",
					name, lineno);
				rc = -EINVAL;
				break;
			}
			snprintf(rec.audit_id, sizeof(rec.audit_id), "%s/%s", rec.engine, rec.run);
		} else {
			snprintf(rec.audit_id, sizeof(rec.audit_id), "%s", rec.engine);
		}
		struct engine_audit *ea = jsonl_audit(rec.audit_id);
		if (ea == NULL) {
			fprintf(stderr, "cee-audit: %s:%" PRIu64 ": more than %d engines (or out of memory)\n",
				name, lineno, ENGINES_LIVE);
			rc = -EINVAL;
			break;
		}
		if (ea->live == NULL) {
			fprintf(stderr,
				"cee-audit: %s:%" PRIu64 ": a line of %s after its audit was finished "
				"to make room for a later run or engine (more than %d audits live)\n",
				name, lineno, ea->id, ENGINES_LIVE);
			rc = -EINVAL;
			break;
		}
		struct engine_live *l = ea->live;
		// an engine writes one schema: a line of another in its stream
		// (which switched its whole audit to the old open-at-SYN rules)
		// is not its
		if (l->v != 0 && rec.v != l->v) {
			fprintf(stderr,
				"cee-audit: %s:%" PRIu64 ": a line of schema %u in the stream of "
				"engine '%s', whose lines are of schema %u\n",
				name, lineno, rec.v, ea->id, l->v);
			rc = -EINVAL;
			break;
		}
		l->v = rec.v;
		// schema 1 and 2 come from engines before session 13: their
		// accepted connections were announced at the SYN (and schema 2
		// has no direction to tell them from outbound ones)
		if (rec.v < 3)
			cee_audit_open_at_syn(l->a, true);
		if (l->batch == NULL && (l->batch = malloc(BATCH * sizeof(*l->batch))) == NULL) {
			rc = -ENOMEM;
			break;
		}
		if (l->n + CEE_EVT_EXT_MAX + 1 > BATCH) {
			cee_audit_feed(l->a, l->batch, l->n);
			l->n = 0;
		}
		l->n += line_records(&rec, &l->batch[l->n]);
	}
	if (rc == -E2BIG) {
		fprintf(stderr, "cee-audit: %s:%" PRIu64 ": a line longer than %u bytes: not a cee "
				"event stream\n",
			name, lineno + 1, LINE_MAX_BYTES);
		rc = -EINVAL;
	}
	if (rc != 0 && rc != -EINVAL)
		fprintf(stderr, "cee-audit: %s: %s\n", name, strerror(-rc));
	free(lr.buf);
	return rc;
}

// The binary stream's current run, across the files of one audit: a file
// that a rotation began (at SIGHUP) repeats its run's record after its
// header, and goes on with that run. Reset by main().
static struct engine_audit *bin_run;
static struct cee_event bin_run_rec;
static bool bin_run_seen;

// Feed @p n records of a version 4 binary file: each run record finishes
// the audit of the run before it and starts a new one (*@p ea), unless it
// is a file's first record (@p file_start) and repeats the current run's
// record byte for byte: the next piece of a rotated file. Records before
// the first go to engine "". @return 0, -EINVAL (a run record's engine id
// is not one) or -ENOMEM.
static int feed_runs(struct engine_audit **ea, const struct cee_event *ev, size_t n,
		     bool file_start)
{
	size_t from = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && ev[i].type != CEE_EVBIN_RUN)
			continue;
		if (i > from) {
			if (*ea == NULL && (*ea = engine_new_run("")) == NULL)
				return -ENOMEM;
			cee_audit_feed((*ea)->live->a, ev + from, (uint32_t)(i - from));
		}
		if (i == 0 && file_start && bin_run_seen && *ea != NULL &&
		    memcmp(&ev[i], &bin_run_rec, sizeof(bin_run_rec)) == 0) {
			from = i + 1; // the same run goes on
			continue;
		}
		if (i < n) {
			struct cee_evbin_run run;
			memcpy(&run, &ev[i], sizeof(run));
			bin_run_rec = ev[i];
			bin_run_seen = true;
			char id[CEE_ENGINE_ID_MAX + 1];
			memcpy(id, run.engine, CEE_ENGINE_ID_MAX);
			id[CEE_ENGINE_ID_MAX] = '\0';
			if (id[0] != '\0' && !cee_engine_id_valid(id))
				return -EINVAL;
			if (*ea != NULL && engine_finish(*ea, false) < 0) // (a new run: it ended)
				return -ENOMEM;
			if ((*ea = engine_new_run(id)) == NULL)
				return -ENOMEM;
		}
		from = i + 1;
	}
	return 0;
}

// @p in is positioned after the magic. @p last: as for read_jsonl().
static int read_binary(FILE *in, const char *name, bool last)
{
	struct engine_audit *ea = NULL;
	struct cee_evbin_header h;
	struct cee_event batch[BATCH];
	size_t rest = sizeof(h) - sizeof(h.magic);

	if (fread((char *)&h + sizeof(h.magic), 1, rest, in) != rest) {
		fprintf(stderr, "cee-audit: %s: short header\n", name);
		return -EINVAL;
	}
	// Version 1 files have no extension records, version 2 no direction
	// bit nor link events, and before version 4 no run records; the layout
	// is the same.
	if (h.version < 1 || h.version > CEE_EVBIN_VERSION ||
	    h.record_size != sizeof(struct cee_event)) {
		fprintf(stderr, "cee-audit: %s: unsupported version %u or record size %u\n", name,
			h.version, h.record_size);
		return -EINVAL;
	}
	if (h.version >= 4)
		ea = bin_run; // a rotated file's next piece goes on with its run
	else
		bin_run = NULL; // (and an older file never joins one)
	size_t got;
	bool file_start = true;
	do {
		got = fread(batch, 1, sizeof(batch), in);
		size_t n = got / sizeof(batch[0]);
		if (h.version >= 4) {
			int rc = feed_runs(&ea, batch, n, file_start);
			file_start = false;
			if (rc == -EINVAL)
				fprintf(stderr, "cee-audit: %s: a run record with a bad engine id\n", name);
			else if (rc < 0)
				fprintf(stderr, "cee-audit: %s: %s\n", name, strerror(-rc));
			if (rc < 0)
				return rc;
		} else {
			if (ea == NULL && (ea = engine_get("")) == NULL)
				return -ENOMEM;
			// versions 1 and 2: engines before session 13, accepted
			// connections announced at the SYN (version 2 has no
			// direction bit to tell them from outbound ones)
			if (h.version < 3)
				cee_audit_open_at_syn(ea->live->a, true);
			cee_audit_feed(ea->live->a, batch, (uint32_t)n);
		}
		if (got % sizeof(batch[0]) != 0 && !ferror(in)) {
			if (allow_live && last) { // the engine is still writing it
				fprintf(stderr,
					"cee-audit: %s: the last record is cut: left out, as the "
					"engine is still writing it (--allow-live)\n",
					name);
				break;
			}
			fprintf(stderr, "cee-audit: %s: truncated last record%s\n", name,
				allow_live ? " (in a FILE before the last: only the last FILE "
					     "may end cut short)"
					   : "");
			return -EINVAL;
		}
	} while (got == sizeof(batch));
	if (ferror(in)) {
		fprintf(stderr, "cee-audit: %s: read error\n", name);
		return -EIO;
	}
	bin_run = h.version >= 4 ? ea : NULL;
	return 0;
}

// @p last: @p path is the last FILE given (see read_jsonl()).
static int read_file(const char *path, bool last)
{
	FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (in == NULL) {
		int e = errno;
		fprintf(stderr, "cee-audit: %s: %s\n", path, strerror(e));
		return -e;
	}

	char magic[8];
	size_t got = fread(magic, 1, sizeof(magic), in);
	int rc;
	if (ferror(in)) {
		fprintf(stderr, "cee-audit: %s: read error\n", path);
		rc = -EIO;
	} else if (got == sizeof(magic) && memcmp(magic, CEE_EVBIN_MAGIC, sizeof(magic)) == 0) {
		rc = read_binary(in, path, last);
	} else {
		rc = read_jsonl(in, path, magic, got, last);
	}
	if (in != stdin)
		fclose(in);
	return rc;
}

static void print_human(const struct cee_audit_result *r, FILE *f)
{
	fprintf(f,
		"events        %" PRIu64 "\n"
		"opens         %" PRIu64 "\n"
		"established   %" PRIu64 "\n"
		"closes        %" PRIu64 "\n"
		"destroys      %" PRIu64 "\n"
		"gaps          %" PRIu64 "\n"
		"duplicate     %" PRIu64 "\n"
		"out_of_order  %" PRIu64 "\n"
		"lost          %" PRIu64 "\n"
		"live          %" PRIu64 "\n"
		"ext           %" PRIu64 "\n"
		"ext_bad       %" PRIu64 "\n"
		"inconsistent  %" PRIu64 "\n"
		"link_up       %" PRIu64 "\n"
		"link_down     %" PRIu64 "\n"
		"link_bad      %" PRIu64 "\n"
		"unknown_reason %" PRIu64 "\n",
		r->events, r->opens, r->established, r->closes, r->destroys, r->gaps,
		r->duplicate, r->out_of_order, r->lost, r->live, r->ext, r->ext_bad,
		r->inconsistent, r->link_up, r->link_down, r->link_bad, r->unknown_reason);
	fprintf(f, "closed by reason:\n");
	for (int i = 0; i < CEE_REASON__COUNT; i++)
		if (r->by_reason[i] != 0)
			fprintf(f, "  %-20s %" PRIu64 "\n", cee_reason_str((enum cee_reason)i),
				r->by_reason[i]);
	if (r->unknown_reason != 0)
		fprintf(f, "  %-20s %" PRIu64 "  (reasons this cee-audit does not know: a newer "
			   "engine's, not a violation)\n",
			"(unknown)", r->unknown_reason);
	fprintf(f, "result: %s\n", r->ok ? "OK" : "VIOLATIONS");
}

static void result_add(struct cee_audit_result *sum, const struct cee_audit_result *r)
{
	sum->events += r->events;
	sum->ext += r->ext;
	sum->opens += r->opens;
	sum->established += r->established;
	sum->closes += r->closes;
	sum->destroys += r->destroys;
	sum->gaps += r->gaps;
	sum->duplicate += r->duplicate;
	sum->out_of_order += r->out_of_order;
	sum->lost += r->lost;
	sum->live += r->live;
	sum->ext_bad += r->ext_bad;
	sum->inconsistent += r->inconsistent;
	sum->link_up += r->link_up;
	sum->link_down += r->link_down;
	sum->link_bad += r->link_bad;
	sum->unknown_reason += r->unknown_reason;
	for (int i = 0; i < CEE_REASON__COUNT; i++)
		sum->by_reason[i] += r->by_reason[i];
	sum->ok = sum->ok && r->ok;
}

static void print_json(const struct cee_audit_result *r, FILE *f)
{
	fprintf(f,
		"{\"events\":%" PRIu64 ",\"opens\":%" PRIu64 ",\"established\":%" PRIu64
		",\"closes\":%" PRIu64 ",\"destroys\":%" PRIu64 ",\"gaps\":%" PRIu64
		",\"duplicate\":%" PRIu64 ",\"out_of_order\":%" PRIu64 ",\"lost\":%" PRIu64
		",\"live\":%" PRIu64 ",\"ext\":%" PRIu64 ",\"ext_bad\":%" PRIu64
		",\"inconsistent\":%" PRIu64 ",\"link_up\":%" PRIu64 ",\"link_down\":%" PRIu64
		",\"link_bad\":%" PRIu64 ",\"unknown_reason\":%" PRIu64 ",\"ok\":%s,\"by_reason\":{",
		r->events, r->opens, r->established, r->closes, r->destroys, r->gaps,
		r->duplicate, r->out_of_order, r->lost, r->live, r->ext, r->ext_bad,
		r->inconsistent, r->link_up, r->link_down, r->link_bad, r->unknown_reason,
		r->ok ? "true" : "false");
	for (int i = 0; i < CEE_REASON__COUNT; i++)
		fprintf(f, "%s\"%s\":%" PRIu64, i > 0 ? "," : "",
			cee_reason_str((enum cee_reason)i), r->by_reason[i]);
	fprintf(f, "},\"engines\":[");
	for (unsigned i = 0; i < nengines; i++)
		fprintf(f, "%s{\"engine\":\"%s\",\"events\":%" PRIu64 ",\"ok\":%s}", i ? "," : "",
			engines[i]->id, engines[i]->res.events, engines[i]->res.ok ? "true" : "false");
	fprintf(f, "]}\n");
}

int main(int argc, char **argv)
{
	bool json = false;
	allow_live = false; // (a global: the fuzz target calls main again and again)
	open_at_syn = false;
	const char **paths = calloc((size_t)argc, sizeof(*paths));
	int npaths = 0;
	bin_run = NULL;
	bin_run_seen = false;
	if (paths == NULL) {
		fprintf(stderr, "cee-audit: %s\n", strerror(ENOMEM));
		return 2;
	}

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--allow-live") == 0) {
			allow_live = true;
		} else if (strcmp(argv[i], "--open-at-syn") == 0) {
			open_at_syn = true;
		} else if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			free(paths);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "cee-audit: unknown option %s\n", argv[i]);
			usage(stderr);
			free(paths);
			return 2;
		} else {
			paths[npaths++] = argv[i];
		}
	}
	if (npaths == 0) {
		usage(stderr);
		free(paths);
		return 2;
	}

	for (int i = 0; i < npaths; i++)
		if (read_file(paths[i], i == npaths - 1) < 0) {
			engines_free();
			free(paths);
			return 2;
		}
	free(paths);
	if (nengines == 0 && engine_get("") == NULL) {
		fprintf(stderr, "cee-audit: %s\n", strerror(ENOMEM));
		engines_free();
		return 2;
	}

	// One result over all engines; each engine's too when there are several.
	struct cee_audit_result r;
	memset(&r, 0, sizeof(r));
	r.ok = true;
	for (unsigned i = 0; i < nengines; i++) {
		// --allow-live excuses open connections of each engine's last run
		// only: with it every run passed, one that crashed and restarted too
		if (engine_finish(engines[i], allow_live && !superseded(i)) < 0) {
			fprintf(stderr, "cee-audit: %s\n", strerror(ENOMEM));
			engines_free();
			return 2;
		}
		result_add(&r, &engines[i]->res);
	}
	FILE *vf = json ? stderr : stdout;
	if (json) {
		print_json(&r, stdout);
	} else {
		print_human(&r, stdout);
		for (unsigned i = 0; i < nengines && nengines > 1; i++)
			printf("engine %-33s events %" PRIu64 "  %s\n",
			       engines[i]->id[0] ? engines[i]->id : "(none)", engines[i]->res.events,
			       engines[i]->res.ok ? "OK" : "VIOLATIONS");
	}
	for (unsigned i = 0; i < nengines; i++)
		fwrite(engines[i]->violations, 1, engines[i]->violations_len, vf);
	engines_free();
	return r.ok ? 0 : 1;
}
