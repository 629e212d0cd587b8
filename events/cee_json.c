/* SPDX-License-Identifier: BSD-3-Clause */
// JSON Lines encoding of one event, on the export path: no printf, no
// allocation, hand-rolled integer formatting. Plain events take the fixed
// path (encode()); an event with extension records, or extension records on
// their own, take the ext path, which escapes strings from the network.
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cee_sink.h"

#define STR_(x) #x
#define STR(x) STR_(x)

// Longest line: fixed text (~200 bytes) + 7 uint64 at 20 digits + two
// addresses at 21 + names + the engine and run ids (44 + 25). Writing straight into the caller's
// buffer is safe when it has this much room; otherwise we go through a stack buffer.
#define JSON_MAX CEE_EVT_JSON_MAX
// The engine's id, ",\"engine\":\"ID\"" after "v" in every line, and its run,
// ",\"run\":\"RUN\"", when it has one (cee_evt_json_set_engine()).
#define ENGINE_KEY_MAX                                                                              \
	(sizeof(",\"engine\":\"\",\"run\":\"\"") - 1 + CEE_ENGINE_ID_MAX + CEE_RUN_ID_MAX)

static char engine_key[ENGINE_KEY_MAX + 1];
static size_t engine_key_len;
static char engine_id[CEE_ENGINE_ID_MAX + 1];
static char run_id[CEE_RUN_ID_MAX + 1];

bool cee_engine_id_valid(const char *id)
{
	size_t n = id != NULL ? strlen(id) : 0;
	if (n == 0 || n > CEE_ENGINE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

int cee_evt_json_set_engine(const char *id, const char *run)
{
	bool has_id = id != NULL && id[0] != '\0', has_run = run != NULL && run[0] != '\0';
	if ((has_id && !cee_engine_id_valid(id)) ||
	    (has_run && (!has_id || strlen(run) > CEE_RUN_ID_MAX || !cee_engine_id_valid(run))))
		return -EINVAL;
	snprintf(engine_id, sizeof(engine_id), "%s", has_id ? id : "");
	snprintf(run_id, sizeof(run_id), "%s", has_run ? run : "");
	if (!has_id)
		engine_key_len = 0;
	else if (!has_run)
		engine_key_len = (size_t)snprintf(engine_key, sizeof(engine_key),
						  ",\"engine\":\"%s\"", engine_id);
	else
		engine_key_len = (size_t)snprintf(engine_key, sizeof(engine_key),
						  ",\"engine\":\"%s\",\"run\":\"%s\"", engine_id, run_id);
	memset(engine_key + engine_key_len, 0, sizeof(engine_key) - engine_key_len);
	return 0;
}

const char *cee_evt_json_run(void)
{
	return run_id;
}

static char engine_run[CEE_RUN_ID_MAX + 1];

void cee_evt_set_run(const char *run)
{
	snprintf(engine_run, sizeof(engine_run), "%s", run != NULL ? run : "");
}

const char *cee_evt_run(void)
{
	return engine_run;
}

const char *cee_evt_json_engine(void)
{
	return engine_id;
}

static inline char *put_engine(char *p)
{
	memcpy(p, engine_key, ENGINE_KEY_MAX);
	return p + engine_key_len;
}

static const char digit_pairs[201] = "00010203040506070809"
				     "10111213141516171819"
				     "20212223242526272829"
				     "30313233343536373839"
				     "40414243444546474849"
				     "50515253545556575859"
				     "60616263646566676869"
				     "70717273747576777879"
				     "80818283848586878889"
				     "90919293949596979899";

static char *put_u64(char *p, uint64_t v)
{
	char tmp[20];
	char *t = tmp + sizeof(tmp);

	while (v >= 100) {
		unsigned i = (unsigned)(v % 100) * 2;
		v /= 100;
		t -= 2;
		t[0] = digit_pairs[i];
		t[1] = digit_pairs[i + 1];
	}
	if (v >= 10) {
		unsigned i = (unsigned)v * 2;
		t -= 2;
		t[0] = digit_pairs[i];
		t[1] = digit_pairs[i + 1];
	} else {
		*--t = (char)('0' + v);
	}
	size_t n = (size_t)(tmp + sizeof(tmp) - t);
	memcpy(p, t, n);
	return p + n;
}

static char *put_u8(char *p, unsigned v)
{
	if (v >= 100) {
		*p++ = (char)('0' + v / 100);
		v %= 100;
		*p++ = digit_pairs[v * 2];
		*p++ = digit_pairs[v * 2 + 1];
	} else if (v >= 10) {
		*p++ = digit_pairs[v * 2];
		*p++ = digit_pairs[v * 2 + 1];
	} else {
		*p++ = (char)('0' + v);
	}
	return p;
}

#define PUT_LIT(p, s)                                                                              \
	do {                                                                                       \
		memcpy((p), (s), sizeof(s) - 1);                                                   \
		(p) += sizeof(s) - 1;                                                              \
	} while (0)

static char *put_str(char *p, const char *s)
{
	size_t n = strlen(s);
	memcpy(p, s, n);
	return p + n;
}

static char *put_addr(char *p, uint32_t ip, uint16_t port)
{
	*p++ = '"';
	p = put_u8(p, ip >> 24);
	*p++ = '.';
	p = put_u8(p, (ip >> 16) & 0xff);
	*p++ = '.';
	p = put_u8(p, (ip >> 8) & 0xff);
	*p++ = '.';
	p = put_u8(p, ip & 0xff);
	*p++ = ':';
	p = put_u64(p, port);
	*p++ = '"';
	return p;
}

static char *put_hex64(char *p, uint64_t v)
{
	static const char hex[16] = "0123456789abcdef";
	for (int i = 15; i >= 0; i--) {
		p[i] = hex[v & 0xf];
		v >>= 4;
	}
	return p + 16;
}

// Writes every field of @p e at @p out, without the closing brace. At most
// JSON_MAX - 3 bytes. Returns the end. Inlined in encode(), the plain path,
// as it was before the ext path shared it.
__attribute__((always_inline)) static inline char *encode_fields(const struct cee_event *e,
								  char *out)
{
	char *p = out;

	PUT_LIT(p, "{\"v\":" STR(CEE_EVT_SCHEMA_VERSION));
	p = put_engine(p);
	PUT_LIT(p, ",\"type\":\"");
	p = put_str(p, cee_evt_type_str((enum cee_evt_type)e->type));
	PUT_LIT(p, "\",\"conn\":\"");
	p = put_hex64(p, e->conn);
	PUT_LIT(p, "\",\"shard\":");
	p = put_u64(p, cee_event_shard(e));
	PUT_LIT(p, ",\"sseq\":");
	p = put_u64(p, e->sseq);
	PUT_LIT(p, ",\"cseq\":");
	p = put_u64(p, e->cseq);
	PUT_LIT(p, ",\"ts_ns\":");
	p = put_u64(p, e->ts_ns);
	PUT_LIT(p, ",\"proto\":\"");
	p = put_str(p, cee_proto_str(cee_event_proto(e)));
	if (e->type == CEE_EVT_OPEN) {
		// Schema 3: the direction, from the proto byte's CEE_PROTO_F_OUT bit.
		if (cee_event_out(e))
			PUT_LIT(p, "\",\"dir\":\"out");
		else
			PUT_LIT(p, "\",\"dir\":\"in");
	}
	PUT_LIT(p, "\",\"local\":");
	p = put_addr(p, e->local_ip, e->local_port);
	PUT_LIT(p, ",\"remote\":");
	p = put_addr(p, e->remote_ip, e->remote_port);
	if (e->type == CEE_EVT_CLOSED || e->type == CEE_EVT_LINK_DOWN) {
		// link_down repeats its connection's close reason (schema 3).
		PUT_LIT(p, ",\"reason\":\"");
		if (e->reason < CEE_REASON__COUNT) {
			p = put_str(p, cee_reason_str((enum cee_reason)e->reason));
		} else {
			// a newer engine's reason (cee-tail converting its binary
			// batches): a name readers take as an unknown cause
			// (docs/events.md, versioning); "?" was refused as malformed
			PUT_LIT(p, "reason_");
			p = put_u64(p, e->reason);
		}
		*p++ = '"';
	}
	if (e->type == CEE_EVT_CLOSED) {
		PUT_LIT(p, ",\"bytes_in\":");
		p = put_u64(p, e->bytes_in);
		PUT_LIT(p, ",\"bytes_out\":");
		p = put_u64(p, e->bytes_out);
		PUT_LIT(p, ",\"duration_ns\":");
		p = put_u64(p, e->duration_ns);
	}
	return p;
}

// Writes the line at @p out, which has at least JSON_MAX bytes. Returns the end.
static char *encode(const struct cee_event *e, char *out)
{
	char *p = encode_fields(e, out);
	PUT_LIT(p, "}\n");
	*p = '\0';
	return p;
}

/* ---- extension records ---- */

// Length of the valid UTF-8 sequence at @p s (RFC 3629 section 4: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0.
static unsigned utf8_len(const uint8_t *s, size_t n)
{
	uint8_t c = s[0];
	unsigned len;
	uint8_t lo = 0x80, hi = 0xbf; // range of the second byte

	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (unsigned i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

// @p s as the inside of a JSON string (RFC 8259 section 7): '"', '\\' and
// control characters escaped, valid UTF-8 as is, every byte of invalid
// UTF-8 as U+FFFD. At most 6 bytes per input byte.
static char *put_escaped(char *p, const uint8_t *s, size_t n)
{
	static const char hex[16] = "0123456789abcdef";
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*p++ = (char)c;
			i++;
		} else if (c == '"' || c == '\\') {
			*p++ = '\\';
			*p++ = (char)c;
			i++;
		} else if (c < 0x20) {
			PUT_LIT(p, "\\u00");
			*p++ = hex[c >> 4];
			*p++ = hex[c & 0xf];
			i++;
		} else {
			unsigned len = utf8_len(s + i, n - i);
			if (len == 0) {
				PUT_LIT(p, "\\ufffd");
				i++;
			} else {
				memcpy(p, s + i, len);
				p += len;
				i += len;
			}
		}
	}
	return p;
}

// Walks the TLVs of a group in order, across its records.
struct tlv_iter {
	const struct cee_event_ext *const *rec;
	unsigned nrec;
	unsigned r;   // record
	unsigned off; // offset in its data
};

// @return the next key (0 at the end) with its value in @p val / @p len.
static unsigned tlv_next(struct tlv_iter *it, const uint8_t **val, unsigned *len)
{
	while (it->r < it->nrec) {
		const uint8_t *d = it->rec[it->r]->data;
		unsigned off = it->off;
		// Key 0, the end of data, or a length running past it end the record.
		if (off + 2 <= CEE_EVT_EXT_DATA && d[off] != 0 &&
		    off + 2 + d[off + 1] <= CEE_EVT_EXT_DATA) {
			*val = d + off + 2;
			*len = d[off + 1];
			it->off = off + 2 + d[off + 1];
			return d[off];
		}
		it->r++;
		it->off = 0;
	}
	return 0;
}

// Room one key may take besides 6 bytes per value byte: the longest key
// twice (ALERT prints "key" and "key_name"), quotes and punctuation, and the
// longest alert name (31).
#define FIELD_FIXED_MAX 80
// Room kept for what follows the keys: ,"xseq":N}\n and the NUL.
#define TAIL_MAX 40

static char *put_key(char *p, const char *key)
{
	*p++ = ',';
	*p++ = '"';
	p = put_str(p, key);
	*p++ = '"';
	*p++ = ':';
	return p;
}

// One key with its whole (concatenated) value.
static char *put_field(char *p, enum cee_ext_key k, const uint8_t *v, unsigned n)
{
	const char *key = cee_ext_key_str(k);
	int kind = cee_ext_key_kind(k);

	if (kind < 0 || n == 0)
		return p; // unknown key (a newer producer) or empty value: skipped
	switch ((enum cee_ext_kind)kind) {
	case CEE_EXT_KIND_STR:
		p = put_key(p, key);
		*p++ = '"';
		p = put_escaped(p, v, n);
		*p++ = '"';
		break;
	case CEE_EXT_KIND_BOOL:
		p = put_key(p, key);
		if (v[0] != 0)
			PUT_LIT(p, "true");
		else
			PUT_LIT(p, "false");
		break;
	case CEE_EXT_KIND_U8:
		p = put_key(p, key);
		p = put_u8(p, v[0]);
		break;
	case CEE_EXT_KIND_VERSION: {
		if (n < 2)
			break;
		unsigned ver = (unsigned)v[0] | (unsigned)v[1] << 8;
		p = put_key(p, key);
		if (ver == 0x0303)
			PUT_LIT(p, "\"1.2\"");
		else if (ver == 0x0304)
			PUT_LIT(p, "\"1.3\"");
		else
			p = put_u64(p, ver);
		break;
	}
	case CEE_EXT_KIND_ALERT:
		p = put_key(p, key);
		p = put_u8(p, v[0]);
		*p++ = ',';
		*p++ = '"';
		p = put_str(p, key);
		PUT_LIT(p, "_name\":\"");
		p = put_str(p, cee_evt_alert_str(v[0]));
		*p++ = '"';
		break;
	case CEE_EXT_KIND_BY:
		p = put_key(p, key);
		if (v[0] != 0)
			PUT_LIT(p, "\"local\"");
		else
			PUT_LIT(p, "\"peer\"");
		break;
	case CEE_EXT_KIND_U16:
		if (n < 2)
			break;
		p = put_key(p, key);
		p = put_u64(p, (unsigned)v[0] | (unsigned)v[1] << 8);
		break;
	case CEE_EXT_KIND_U32:
		if (n < 4)
			break;
		p = put_key(p, key);
		p = put_u64(p, (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 |
				       (uint32_t)v[3] << 24);
		break;
	case CEE_EXT_KIND__COUNT:
		break;
	}
	return p;
}

// Whether put_field() writes a value of @p n bytes under @p k.
static bool field_written(enum cee_ext_key k, unsigned n)
{
	int kind = cee_ext_key_kind(k);
	if (kind < 0 || n == 0)
		return false;
	switch ((enum cee_ext_kind)kind) {
	case CEE_EXT_KIND_VERSION:
	case CEE_EXT_KIND_U16:
		return n >= 2;
	case CEE_EXT_KIND_U32:
		return n >= 4;
	case CEE_EXT_KIND_STR:
	case CEE_EXT_KIND_BOOL:
	case CEE_EXT_KIND_U8:
	case CEE_EXT_KIND_ALERT:
	case CEE_EXT_KIND_BY:
		return true;
	case CEE_EXT_KIND__COUNT:
		break;
	}
	return false;
}

// The keys of @p nrec records, flattened: consecutive TLVs of one key make
// one value. A key written once: of a key that comes again after another
// (a producer's fault), the last value (readers that took the last of
// several such keys read it; a line with a key twice is no line cee-audit
// takes, found by fuzz_json). Stops (drops the remaining keys) rather than
// pass @p end.
static char *put_fields(char *p, char *end, const struct cee_event_ext *const *rec, unsigned nrec)
{
	enum { RUNS = CEE_EVT_EXT_MAX * CEE_EVT_EXT_DATA / 2 };
	uint8_t val[CEE_EVT_EXT_MAX * CEE_EVT_EXT_DATA];
	uint8_t key[RUNS];
	uint16_t at[RUNS], n[RUNS];
	unsigned runs = 0, used = 0;
	struct tlv_iter it = {rec, nrec < CEE_EVT_EXT_MAX ? nrec : CEE_EVT_EXT_MAX, 0, 0};
	const uint8_t *v;
	unsigned len, k = tlv_next(&it, &v, &len);

	while (k != 0) { // (each TLV takes 2 bytes at least: RUNS runs at most)
		unsigned r = runs++;
		key[r] = (uint8_t)k;
		at[r] = (uint16_t)used;
		n[r] = 0;
		unsigned next;
		do {
			memcpy(val + used, v, len); // the group holds at most sizeof(val) bytes
			used += len;
			n[r] = (uint16_t)(n[r] + len);
		} while ((next = tlv_next(&it, &v, &len)) == k);
		k = next;
	}
	for (unsigned r = 0; r < runs; r++) {
		if (!field_written((enum cee_ext_key)key[r], n[r]))
			continue;
		bool later = false;
		for (unsigned q = r + 1; q < runs && !later; q++)
			later = key[q] == key[r] && field_written((enum cee_ext_key)key[q], n[q]);
		if (later)
			continue;
		if ((size_t)(end - p) < FIELD_FIXED_MAX + 6 * (size_t)n[r] + TAIL_MAX)
			break; // cannot happen with CEE_EVT_JSON_EXT_MAX of room
		p = put_field(p, (enum cee_ext_key)key[r], val + at[r], n[r]);
	}
	return p;
}

// The line of @p e (NULL: the records on their own) with @p next records,
// at @p out, which has CEE_EVT_JSON_EXT_MAX bytes. Returns the end.
static char *encode_ext(const struct cee_event *e, const struct cee_event_ext *const *ext,
			unsigned next, char *out)
{
	char *end = out + CEE_EVT_JSON_EXT_MAX;
	const struct cee_event_ext *first = ext[0], *last = ext[next - 1];
	char *p;

	if (e != NULL) {
		p = encode_fields(e, out);
	} else {
		p = out;
		PUT_LIT(p, "{\"v\":" STR(CEE_EVT_SCHEMA_VERSION));
		p = put_engine(p);
		PUT_LIT(p, ",\"type\":\"ext\",\"of\":\"");
		p = put_str(p, cee_evt_type_str((enum cee_evt_type)first->of));
		PUT_LIT(p, "\",\"conn\":\"");
		p = put_hex64(p, first->conn);
		PUT_LIT(p, "\",\"shard\":");
		p = put_u64(p, cee_id_shard(first->conn));
		PUT_LIT(p, ",\"sseq\":");
		p = put_u64(p, last->sseq);
	}
	p = put_fields(p, end, ext, next);
	PUT_LIT(p, ",\"xseq\":");
	p = put_u64(p, first->sseq);
	PUT_LIT(p, "}\n");
	*p = '\0';
	return p;
}

// The event's fields take at most JSON_MAX; each key at most FIELD_FIXED_MAX
// + 6 per value byte and at least 3 bytes of TLV (empty values are skipped),
// so the keys of a whole group fit, and put_fields() never stops early.
_Static_assert(CEE_EVT_JSON_EXT_MAX >= JSON_MAX +
					       (CEE_EVT_EXT_MAX * CEE_EVT_EXT_DATA / 3) *
						       (FIELD_FIXED_MAX + 6) +
					       TAIL_MAX,
	       "room for the longest line with extension records");

int cee_evt_to_json_ext(const struct cee_event *e, const struct cee_event_ext *const *ext,
			unsigned next, char *buf, size_t len)
{
	if (next > CEE_EVT_EXT_MAX || (next > 0 && ext == NULL))
		return -EINVAL;
	if (next == 0)
		return e != NULL ? cee_evt_to_json(e, buf, len) : -EINVAL;
	if (len >= CEE_EVT_JSON_EXT_MAX)
		return (int)(encode_ext(e, ext, next, buf) - buf);

	char tmp[CEE_EVT_JSON_EXT_MAX];
	size_t n = (size_t)(encode_ext(e, ext, next, tmp) - tmp);
	if (n + 1 > len)
		return -ENOSPC;
	memcpy(buf, tmp, n + 1);
	return (int)n;
}

// Everything but the plain path: a small buffer, or an extension record.
__attribute__((noinline)) static int to_json_other(const struct cee_event *e, char *buf,
						   size_t len)
{
	const struct cee_event_ext *x = cee_event_as_ext(e);
	if (x != NULL)
		return cee_evt_to_json_ext(NULL, &x, 1, buf, len);

	char tmp[JSON_MAX];
	size_t n = (size_t)(encode(e, tmp) - tmp);
	if (n + 1 > len)
		return -ENOSPC;
	memcpy(buf, tmp, n + 1);
	return (int)n;
}

int cee_evt_to_json(const struct cee_event *e, char *buf, size_t len)
{
	// The plain path has no stack frame of its own: the sink calls it per event.
	if (__builtin_expect(len >= JSON_MAX && e->type != CEE_EVT_EXT, 1))
		return (int)(encode(e, buf) - buf);
	return to_json_other(e, buf, len);
}
