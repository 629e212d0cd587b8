/* SPDX-License-Identifier: BSD-3-Clause */
// Extension records: the key table, TLS alert names, and the producer's
// group builder. The builder runs on the shard's lcore, on its stack: no
// allocation, no locks.
#include <errno.h>
#include <string.h>

#include "cee_event.h"

#define X_KEY_NAME(e, s, k) [CEE_EXT_##e] = s,
#define X_KEY_KIND(e, s, k) [CEE_EXT_##e] = CEE_EXT_KIND_##k,
static const char *const key_names[CEE_EXT__COUNT] = {CEE_EXT_KEY_LIST(X_KEY_NAME)};
static const uint8_t key_kinds[CEE_EXT__COUNT] = {CEE_EXT_KEY_LIST(X_KEY_KIND)};
#undef X_KEY_NAME
#undef X_KEY_KIND

const char *cee_ext_key_str(enum cee_ext_key k)
{
	return k > CEE_EXT__END && k < CEE_EXT__COUNT ? key_names[k] : "?";
}

int cee_ext_key_kind(enum cee_ext_key k)
{
	return k > CEE_EXT__END && k < CEE_EXT__COUNT ? key_kinds[k] : -EINVAL;
}

// RFC 8446 section 6 (AlertDescription), with the values TLS 1.2 (RFC 5246
// section 7.2) shares with it.
#define CEE_TLS_ALERT_LIST(X)                                                                      \
	X(0, "close_notify")                                                                       \
	X(10, "unexpected_message")                                                                \
	X(20, "bad_record_mac")                                                                    \
	X(22, "record_overflow")                                                                   \
	X(40, "handshake_failure")                                                                 \
	X(42, "bad_certificate")                                                                   \
	X(43, "unsupported_certificate")                                                           \
	X(44, "certificate_revoked")                                                               \
	X(45, "certificate_expired")                                                               \
	X(46, "certificate_unknown")                                                               \
	X(47, "illegal_parameter")                                                                 \
	X(48, "unknown_ca")                                                                        \
	X(49, "access_denied")                                                                     \
	X(50, "decode_error")                                                                      \
	X(51, "decrypt_error")                                                                     \
	X(70, "protocol_version")                                                                  \
	X(71, "insufficient_security")                                                             \
	X(80, "internal_error")                                                                    \
	X(86, "inappropriate_fallback")                                                            \
	X(90, "user_canceled")                                                                     \
	X(109, "missing_extension")                                                                \
	X(110, "unsupported_extension")                                                            \
	X(112, "unrecognized_name")                                                                \
	X(113, "bad_certificate_status_response")                                                  \
	X(115, "unknown_psk_identity")                                                             \
	X(116, "certificate_required")                                                             \
	X(120, "no_application_protocol")

#define X_ALERT(v, s) [v] = s,
static const char *const alert_names[256] = {CEE_TLS_ALERT_LIST(X_ALERT)};
#undef X_ALERT

const char *cee_evt_alert_str(uint8_t alert)
{
	return alert_names[alert] != NULL ? alert_names[alert] : "unknown";
}

/* ---- builder ---- */

// The last record keeps room for the EXT_TRUNCATED TLV, so the flag always
// fits when something else did not.
#define TRUNC_TLV_LEN 3
// Values up to this long are never split: a new record is started instead.
// Longer values are split into chunks of at least this many bytes.
#define SPLIT_MIN 4

void cee_ext_begin(struct cee_ext_builder *b, cee_conn_id_t conn, enum cee_evt_type of)
{
	b->n = 0;
	b->off = 0;
	b->truncated = false;
	b->conn = conn;
	b->of = (uint8_t)of;
}

static void open_record(struct cee_ext_builder *b)
{
	memset(&b->rec[b->n], 0, sizeof(b->rec[b->n]));
	b->n++;
	b->off = 0;
}

void cee_ext_put(struct cee_ext_builder *b, enum cee_ext_key key, const void *val, uint32_t len)
{
	const uint8_t *p = val;

	if (len == 0 || key <= CEE_EXT__END || key >= CEE_EXT__COUNT)
		return;
	if (b->n == 0)
		open_record(b);
	while (len > 0) {
		unsigned cap = CEE_EVT_EXT_DATA - (b->n == CEE_EVT_EXT_MAX ? TRUNC_TLV_LEN : 0);
		unsigned room = cap > b->off ? cap - b->off : 0;
		unsigned need = 2 + (len < SPLIT_MIN ? len : SPLIT_MIN);
		if (room < need) {
			if (b->n == CEE_EVT_EXT_MAX) {
				// Out of records: the rest of the value is cut.
				b->truncated = true;
				return;
			}
			open_record(b);
			continue;
		}
		unsigned chunk = room - 2;
		if (chunk > len)
			chunk = len;
		uint8_t *d = &b->rec[b->n - 1].ext.data[b->off];
		d[0] = (uint8_t)key;
		d[1] = (uint8_t)chunk; // chunk <= CEE_EVT_EXT_DATA - 2 < 256
		memcpy(d + 2, p, chunk);
		b->off += 2 + chunk;
		p += chunk;
		len -= chunk;
	}
}

// data bytes record @p i (1-based) holds
static unsigned rec_cap(unsigned i)
{
	return CEE_EVT_EXT_DATA - (i == CEE_EVT_EXT_MAX ? TRUNC_TLV_LEN : 0);
}

uint32_t cee_ext_room(const struct cee_ext_builder *b)
{
	unsigned n = b->n, off = b->off;
	if (n == 0) // (the first put opens the first record)
		n = 1, off = 0;
	uint32_t later = 0; // in the records not opened yet, a TLV header each
	for (unsigned i = n + 1; i <= CEE_EVT_EXT_MAX; i++)
		later += rec_cap(i) - 2;
	uint32_t here = rec_cap(n) > off + 2 ? rec_cap(n) - off - 2 : 0;
	// A value goes on in the next records only from a chunk of SPLIT_MIN
	// here; one that does not fit in less starts in the next record.
	if (here >= SPLIT_MIN)
		return here + later;
	return here > later ? here : later;
}

bool cee_ext_put_whole(struct cee_ext_builder *b, enum cee_ext_key key, const void *val,
		       uint32_t len)
{
	if (len > cee_ext_room(b)) {
		b->truncated = true;
		return false;
	}
	cee_ext_put(b, key, val, len);
	return true;
}

bool cee_ext_put_str_whole(struct cee_ext_builder *b, enum cee_ext_key key, const char *s)
{
	if (s == NULL)
		return true;
	size_t n = strlen(s);
	return cee_ext_put_whole(b, key, s, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
}

#define SUBJECT_MORE "/..."

void cee_ext_put_subject(struct cee_ext_builder *b, enum cee_ext_key key, const char *line)
{
	if (line == NULL || line[0] == '\0')
		return;
	size_t len = strlen(line);
	uint32_t room = cee_ext_room(b);
	if (len <= room) {
		cee_ext_put(b, key, line, (uint32_t)len);
		return;
	}
	b->truncated = true;
	// The last attribute start ("/" not escaped by a "\\") after which the
	// mark still fits; attributes from it on are left out whole.
	size_t cut = 0;
	for (size_t i = 0; i < len && i + sizeof(SUBJECT_MORE) - 1 <= room; i++) {
		if (line[i] == '\\')
			i++; // "\\/" and "\\\\": an escaped byte, not a start
		else if (line[i] == '/')
			cut = i;
	}
	if (cut == 0) // not even the first attribute and the mark: nothing
		return;
	char out[CEE_EVT_EXT_MAX * CEE_EVT_EXT_DATA];
	memcpy(out, line, cut);
	memcpy(out + cut, SUBJECT_MORE, sizeof(SUBJECT_MORE) - 1);
	cee_ext_put(b, key, out, (uint32_t)(cut + sizeof(SUBJECT_MORE) - 1));
}

void cee_ext_tls_up(struct cee_ext_builder *b, uint16_t version, const char *cipher,
		    const char *sni, const char *alpn, bool resumed, const char *subject)
{
	cee_ext_put_u16(b, CEE_EXT_TLS_VERSION, version);
	cee_ext_put_str_whole(b, CEE_EXT_CIPHER, cipher);
	// (in docs/events.md's order: key order is part of the contract) The
	// group holds 165 bytes of values: the client's SNI (up to 255) left
	// the subject no room, or chose where it was cut ("/CN=admin" of
	// "adminEVIL"). Values go whole or not at all, and the peer's identity
	// first: the SNI is left out when what follows it (the negotiated
	// protocol, resumed, the subject) would then not fit whole.
	struct cee_ext_builder before_sni = *b;
	if (cee_ext_put_str_whole(b, CEE_EXT_SNI, sni) && sni != NULL && sni[0] != '\0') {
		struct cee_ext_builder probe = *b;
		bool fit = cee_ext_put_str_whole(&probe, CEE_EXT_ALPN, alpn) &&
			   cee_ext_put_whole(&probe, CEE_EXT_RESUMED, &(uint8_t){resumed}, 1) &&
			   (subject == NULL || strlen(subject) <= cee_ext_room(&probe));
		if (!fit) {
			*b = before_sni;
			b->truncated = true;
		}
	}
	cee_ext_put_str_whole(b, CEE_EXT_ALPN, alpn);
	cee_ext_put_u8(b, CEE_EXT_RESUMED, resumed);
	cee_ext_put_subject(b, CEE_EXT_PEER_SUBJECT, subject);
}

void cee_ext_ws_up(struct cee_ext_builder *b, const char *path, const char *subprotocol,
		   const char *origin, const char *user_agent)
{
	// Path and Origin up to 127 bytes each: values go whole or not at all
	// (a cut Origin "https://trusted.example.com.evil.net" read
	// "https://trusted.example.com"), the Origin before the path when both
	// do not fit (the browser's word on who calls, which the client's path
	// could otherwise push out), as is the subprotocol we chose; only the
	// User-Agent, free text, is cut to the room left.
	struct cee_ext_builder before_path = *b;
	if (cee_ext_put_str_whole(b, CEE_EXT_WS_PATH, path) && path != NULL && path[0] != '\0') {
		struct cee_ext_builder probe = *b;
		bool fit = cee_ext_put_str_whole(&probe, CEE_EXT_WS_SUBPROTOCOL, subprotocol) &&
			   cee_ext_put_str_whole(&probe, CEE_EXT_WS_ORIGIN, origin);
		if (!fit) {
			*b = before_path;
			b->truncated = true;
		}
	}
	cee_ext_put_str_whole(b, CEE_EXT_WS_SUBPROTOCOL, subprotocol);
	cee_ext_put_str_whole(b, CEE_EXT_WS_ORIGIN, origin);
	cee_ext_put_str(b, CEE_EXT_WS_USER_AGENT, user_agent);
}

void cee_ext_put_str(struct cee_ext_builder *b, enum cee_ext_key key, const char *s)
{
	if (s == NULL)
		return;
	size_t n = strlen(s);
	cee_ext_put(b, key, s, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n);
}

void cee_ext_put_u8(struct cee_ext_builder *b, enum cee_ext_key key, uint8_t v)
{
	cee_ext_put(b, key, &v, 1);
}

void cee_ext_put_u16(struct cee_ext_builder *b, enum cee_ext_key key, uint16_t v)
{
	const uint8_t le[2] = {(uint8_t)(v & 0xff), (uint8_t)(v >> 8)};
	cee_ext_put(b, key, le, 2);
}

void cee_ext_put_u32(struct cee_ext_builder *b, enum cee_ext_key key, uint32_t v)
{
	const uint8_t le[4] = {(uint8_t)(v & 0xff), (uint8_t)(v >> 8 & 0xff),
			       (uint8_t)(v >> 16 & 0xff), (uint8_t)(v >> 24)};
	cee_ext_put(b, key, le, 4);
}

unsigned cee_ext_end(struct cee_ext_builder *b)
{
	// A value left out whole (cee_ext_put_whole) may flag the group before
	// the last record: the flag then goes in the next one when this one has
	// no room for it (the last record always kept TRUNC_TLV_LEN bytes), and
	// alone when nothing else was put.
	if (b->truncated && (b->n == 0 || (b->n < CEE_EVT_EXT_MAX &&
					   b->off + TRUNC_TLV_LEN > CEE_EVT_EXT_DATA)))
		open_record(b);
	if (b->n == 0)
		return 0;
	if (b->truncated) {
		uint8_t *d = &b->rec[b->n - 1].ext.data[b->off];
		d[0] = CEE_EXT_EXT_TRUNCATED;
		d[1] = 1;
		d[2] = 1;
		b->off += TRUNC_TLV_LEN;
	}
	for (unsigned i = 0; i < b->n; i++) {
		struct cee_event_ext *x = &b->rec[i].ext;
		x->sseq = 0;
		x->conn = b->conn;
		x->type = CEE_EVT_EXT;
		x->of = b->of;
		x->part = (uint8_t)i;
		x->parts = (uint8_t)b->n;
	}
	return b->n;
}
