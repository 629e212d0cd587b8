/* SPDX-License-Identifier: BSD-3-Clause */
// Links: specification, backoff, state machine (see cee_link.h). No DPDK.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cee_link.h"
#include "cee_tcp.h"

#define X_STATE_NAME(e, s) [CEE_LINK_##e] = s,
static const char *const state_names[CEE_LINK_STATE__COUNT] = {
    CEE_LINK_STATE_LIST(X_STATE_NAME)};
#undef X_STATE_NAME

const char *cee_link_state_str(enum cee_link_state st)
{
	return (unsigned)st < CEE_LINK_STATE__COUNT ? state_names[st] : "?";
}

static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '.' || ch == '-';
}

// "A.B.C.D" exactly, into host order.
static int parse_ipv4(const char *s, uint32_t *out)
{
	unsigned a[4];
	char tail;
	if (sscanf(s, "%3u.%3u.%3u.%3u%c", &a[0], &a[1], &a[2], &a[3], &tail) != 4)
		return -EINVAL;
	for (unsigned i = 0; i < 4; i++)
		if (a[i] > 255)
			return -EINVAL;
	*out = a[0] << 24 | a[1] << 16 | a[2] << 8 | a[3];
	return 0;
}

static int fail(char *err, unsigned elen, const char *spec, const char *why)
{
	if (elen)
		snprintf(err, elen, "link '%s': %s", spec, why);
	return -EINVAL;
}

bool cee_link_sni_valid(const char *name)
{
	size_t n = strlen(name), label = 0;
	uint32_t ip;
	// an address is no server name (RFC 6066 3: "Literal IPv4 and IPv6
	// addresses are not permitted in HostName")
	if (n == 0 || n > 253 || parse_ipv4(name, &ip) == 0)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char ch = name[i];
		if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63 || name[i - 1] == '-')
				return false;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			   (ch >= '0' && ch <= '9') || ch == '_' || (ch == '-' && label > 0)) {
			// ('_' is no LDH character, but internal names carry it, and
			// --tls-sni took it before names were checked)
			label++;
		} else {
			return false;
		}
	}
	return true;
}

void cee_link_cfg_release(struct cee_link_cfg *l)
{
	free(l->sni);
	l->sni = NULL;
}

int cee_link_parse(const char *spec, struct cee_link_cfg *out, char *err, unsigned elen)
{
	memset(out, 0, sizeof(*out));
	const char *eq = strchr(spec, '=');
	if (eq == NULL)
		return fail(err, elen, spec,
			    "expected NAME=tcp|tls:A.B.C.D:PORT[:echo|discard][,sni=HOST]");
	size_t nlen = (size_t)(eq - spec);
	if (nlen == 0 || nlen > CEE_LINK_NAME_MAX)
		return fail(err, elen, spec, "the name must have 1 to 32 characters");
	for (size_t i = 0; i < nlen; i++)
		if (!name_char(spec[i]))
			return fail(err, elen, spec, "the name may use only A-Z a-z 0-9 _ . -");
	memcpy(out->name, spec, nlen);

	// ",sni=HOST" last (a TLS link's server name, rather than --tls-sni's)
	const char *sni = strstr(eq + 1, ",sni=");
	size_t dlen = sni != NULL ? (size_t)(sni - (eq + 1)) : strlen(eq + 1);
	char buf[64];
	if (dlen >= sizeof(buf))
		return fail(err, elen, spec, "destination too long");
	memcpy(buf, eq + 1, dlen);
	buf[dlen] = '\0';
	char *proto = buf, *addr = strchr(buf, ':');
	if (addr == NULL)
		return fail(err, elen, spec, "expected tcp: or tls: before the address");
	*addr++ = '\0';
	if (strcmp(proto, "tcp") == 0)
		out->tls = false;
	else if (strcmp(proto, "tls") == 0)
		out->tls = true;
	else
		return fail(err, elen, spec, "the protocol must be tcp or tls");
	char *port = strchr(addr, ':');
	if (port == NULL)
		return fail(err, elen, spec, "expected :PORT after the address");
	*port++ = '\0';
	if (parse_ipv4(addr, &out->ip) < 0 || out->ip == 0)
		return fail(err, elen, spec, "the address must be A.B.C.D");
	char *svc = strchr(port, ':');
	out->service = CEE_TCP_SVC_ECHO;
	if (svc != NULL) {
		*svc++ = '\0';
		if (strcmp(svc, "echo") == 0)
			out->service = CEE_TCP_SVC_ECHO;
		else if (strcmp(svc, "discard") == 0)
			out->service = CEE_TCP_SVC_DISCARD;
		else
			return fail(err, elen, spec, "the service must be echo or discard");
	}
	char *end;
	errno = 0;
	unsigned long p = strtoul(port, &end, 10);
	if (errno || end == port || *end != '\0' || p == 0 || p > 65535 || port[0] == '-')
		return fail(err, elen, spec, "the port must be 1 to 65535");
	out->port = (uint16_t)p;
	if (sni != NULL) {
		sni += strlen(",sni=");
		if (!out->tls)
			return fail(err, elen, spec, "sni= is for TLS links");
		if (!cee_link_sni_valid(sni))
			return fail(err, elen, spec,
				    "sni= must be a host name (labels of A-Z a-z 0-9 - _, at most 253 "
				    "characters, not an address)");
		if ((out->sni = strdup(sni)) == NULL) {
			fail(err, elen, spec, "out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

// b = min(max, min * 2^(k+1)), without overflow: the longest wait after k failures
static uint64_t backoff_bound_ms(const struct cee_link_backoff *b, uint32_t k)
{
	uint64_t hi = b->max_ms;
	if (k < 32) {
		uint64_t v = (uint64_t)b->min_ms << (k + 1);
		if (v < hi)
			hi = v;
	}
	return hi;
}

uint32_t cee_link_backoff_ms(const struct cee_link_backoff *b, uint32_t k, uint64_t rnd)
{
	uint64_t hi = backoff_bound_ms(b, k);
	uint64_t lo = hi / 2 > b->min_ms ? hi / 2 : b->min_ms;
	if (lo > hi) // max < 2 * min: the range is [min, max]
		lo = hi;
	return (uint32_t)(lo + rnd % (hi - lo + 1));
}

void cee_link_init(struct cee_link *l, const struct cee_link_cfg *cfg, uint32_t index,
		   uint64_t now_ns)
{
	memset(l, 0, sizeof(*l));
	l->cfg = cfg;
	l->index = index;
	l->state = CEE_LINK_BACKOFF;
	l->next_ns = now_ns;
	l->last_reason = CEE_REASON_NONE;
}

void cee_link_attempt(struct cee_link *l, cee_conn_id_t id)
{
	l->attempts++;
	l->attempt = l->attempts + l->refused;
	l->conn = id;
	l->state = CEE_LINK_CONNECTING;
}

bool cee_link_up(struct cee_link *l, cee_conn_id_t id, uint64_t now_ns)
{
	if (l->state != CEE_LINK_CONNECTING || l->conn != id || id == 0)
		return false;
	l->state = CEE_LINK_UP;
	l->ups++;
	l->up_ns = now_ns; // (fails is reset when it proves stable: cee_link_closed())
	return true;
}

enum cee_link_close cee_link_closed(struct cee_link *l, cee_conn_id_t id, enum cee_reason reason,
				    uint64_t now_ns, bool stop, const struct cee_link_backoff *b,
				    uint64_t rnd)
{
	enum cee_link_close what;
	if (id == 0) { // an attempt refused locally (no slot, no source port, ...)
		if (l->state != CEE_LINK_BACKOFF)
			return CEE_LINK_STALE;
		l->refused++; // (not in attempts: no open said it)
		what = CEE_LINK_FAILED;
		if (reason != CEE_REASON_NONE) // cee-ctl links shows why, not an older close's
			l->last_reason = (uint8_t)reason;
	} else if (l->conn != id || (l->state != CEE_LINK_CONNECTING && l->state != CEE_LINK_UP)) {
		return CEE_LINK_STALE;
	} else {
		what = l->state == CEE_LINK_UP ? CEE_LINK_DOWN : CEE_LINK_FAILED;
		l->last_reason = (uint8_t)reason;
	}
	uint32_t k;
	if (what == CEE_LINK_DOWN) {
		l->downs++;
		// up at least as long as the wait before it (the bound at its
		// failures so far): stable, so the first retry is the shortest.
		// Up for less (a server that accepts and drops at once, a TLS
		// server that rejects the client's certificate after its
		// Finished) counts as a failure: it was retried every 100-200 ms
		// for ever, six events a time
		uint64_t bound = backoff_bound_ms(b, l->fails) * 1000000;
		k = now_ns - l->up_ns >= bound ? (l->fails = 0) : ++l->fails;
	} else {
		k = ++l->fails;
	}
	l->conn = 0;
	l->up_ns = 0;
	if (stop) {
		l->state = CEE_LINK_DRAINED;
		l->next_ns = 0;
	} else {
		l->state = CEE_LINK_BACKOFF;
		l->next_ns = now_ns + (uint64_t)cee_link_backoff_ms(b, k, rnd) * 1000000;
	}
	return what;
}

void cee_link_drain(struct cee_link *l)
{
	if (l->state == CEE_LINK_BACKOFF) {
		l->state = CEE_LINK_DRAINED;
		l->next_ns = 0;
	}
}
