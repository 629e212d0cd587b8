/* SPDX-License-Identifier: BSD-3-Clause */
// JSON Lines encoding of one event, on the export path: no printf, no
// allocation, hand-rolled integer formatting.
#include <errno.h>
#include <string.h>

#include "cee_sink.h"

// Longest line: fixed text (~200 bytes) + 7 uint64 at 20 digits + two
// addresses at 21 + names. Writing straight into the caller's buffer is safe
// when it has this much room; otherwise we go through a stack buffer.
#define JSON_MAX 512

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

// Writes the line at @p out, which has at least JSON_MAX bytes. Returns the end.
static char *encode(const struct cee_event *e, char *out)
{
	char *p = out;

	PUT_LIT(p, "{\"v\":1,\"type\":\"");
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
	p = put_str(p, cee_proto_str((enum cee_proto)e->proto));
	PUT_LIT(p, "\",\"local\":");
	p = put_addr(p, e->local_ip, e->local_port);
	PUT_LIT(p, ",\"remote\":");
	p = put_addr(p, e->remote_ip, e->remote_port);
	if (e->type == CEE_EVT_CLOSED) {
		PUT_LIT(p, ",\"reason\":\"");
		p = put_str(p, cee_reason_str((enum cee_reason)e->reason));
		PUT_LIT(p, "\",\"bytes_in\":");
		p = put_u64(p, e->bytes_in);
		PUT_LIT(p, ",\"bytes_out\":");
		p = put_u64(p, e->bytes_out);
		PUT_LIT(p, ",\"duration_ns\":");
		p = put_u64(p, e->duration_ns);
	}
	PUT_LIT(p, "}\n");
	*p = '\0';
	return p;
}

int cee_evt_to_json(const struct cee_event *e, char *buf, size_t len)
{
	if (len >= JSON_MAX)
		return (int)(encode(e, buf) - buf);

	char tmp[JSON_MAX];
	size_t n = (size_t)(encode(e, tmp) - tmp);
	if (n + 1 > len)
		return -ENOSPC;
	memcpy(buf, tmp, n + 1);
	return (int)n;
}
