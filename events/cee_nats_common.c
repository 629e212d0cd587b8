/* SPDX-License-Identifier: BSD-3-Clause */
// The spec, connection options and status mapping shared by the NATS sink,
// cee-tail and cee-natspub (cee_nats_common.h).
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cee_nats_common.h"
#include "cee_sink.h"

#define DEFAULT_PORT 4222

uint64_t cee_nats_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

// Percent-decode [p, end) into out (size len). @return 0, or -EINVAL.
static int pct_decode(const char *p, const char *end, char *out, size_t len)
{
	size_t n = 0;
	while (p < end) {
		char c = *p++;
		if (c == '%') {
			int hi = p < end ? hexval(p[0]) : -1;
			int lo = p + 1 < end ? hexval(p[1]) : -1;
			if (hi < 0 || lo < 0)
				return -EINVAL;
			c = (char)(hi * 16 + lo);
			p += 2;
		}
		if (c == '\0' || n + 1 >= len)
			return -EINVAL;
		out[n++] = c;
	}
	out[n] = '\0';
	return 0;
}

bool cee_nats_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

bool cee_nats_subject_valid(const char *s, bool wildcards)
{
	if (s[0] == '\0')
		return false;
	const char *tok = s;
	for (;;) {
		const char *dot = strchr(tok, '.');
		size_t n = dot ? (size_t)(dot - tok) : strlen(tok);
		if (n == 0)
			return false;
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char)tok[i];
			if (c <= ' ' || c >= 0x7f)
				return false;
			if (c == '*' || c == '>') {
				// a wildcard is a whole token; '>' only the last one
				if (!wildcards || n != 1 || (c == '>' && dot != NULL))
					return false;
			}
		}
		if (dot == NULL)
			return true;
		tok = dot + 1;
	}
}

// One server, "HOST[:PORT]" in [p, end), into @p sv. @return 0 or -EINVAL.
static int parse_server(const char *p, const char *end, struct cee_nats_server *sv,
			const char *arg, const char *who)
{
	const char *colon = NULL;
	if (p < end && *p == '[') { // [v6 address]
		const char *rb = memchr(p, ']', (size_t)(end - p));
		if (rb == NULL) {
			fprintf(stderr, "%s: '%s': unterminated '[' in the host\n", who, arg);
			return -EINVAL;
		}
		if (rb + 1 < end) {
			if (rb[1] != ':') {
				fprintf(stderr, "%s: '%s': bad host\n", who, arg);
				return -EINVAL;
			}
			colon = rb + 1;
		}
	} else {
		colon = memchr(p, ':', (size_t)(end - p));
	}
	const char *host_end = colon ? colon : end;
	size_t hl = (size_t)(host_end - p);
	if (hl == 0 || hl >= sizeof(sv->host)) {
		fprintf(stderr, "%s: '%s': missing or overlong host\n", who, arg);
		return -EINVAL;
	}
	for (const char *q = p; q < host_end; q++)
		if ((unsigned char)*q <= ' ' || *q == '@' || *q == '%') {
			fprintf(stderr,
				"%s: '%s': bad character in the host (credentials go in "
				"user=, password=, token=)\n",
				who, arg);
			return -EINVAL;
		}
	memcpy(sv->host, p, hl);
	sv->host[hl] = '\0';
	sv->port = DEFAULT_PORT;
	if (colon != NULL) {
		unsigned long v = 0;
		const char *q = colon + 1;
		for (; q < end && v <= 65535; q++) {
			if (*q < '0' || *q > '9') {
				v = 0;
				break;
			}
			v = v * 10 + (unsigned long)(*q - '0');
		}
		if (v == 0 || v > 65535) {
			fprintf(stderr, "%s: '%s': bad port (1..65535)\n", who, arg);
			return -EINVAL;
		}
		sv->port = (uint16_t)v;
	}
	char url[sizeof(sv->url)]; /* not straight into sv: GCC sees the host there */
	snprintf(url, sizeof(url), "nats://%.*s:%u", (int)hl, p, sv->port);
	memcpy(sv->url, url, sizeof(url));
	return 0;
}

int cee_nats_spec_parse(const char *arg, struct cee_nats_spec *sp, const char *who)
{
	memset(sp, 0, sizeof(*sp));
	// (errors show the spec redacted: its password= and token= went to the
	// journal when another part of it was wrong)
	char shown[256];
	cee_sink_redact(shown, arg != NULL ? arg : "");
	if (arg == NULL || strncmp(arg, "//", 2) != 0) {
		fprintf(stderr, "%s: '%s': expected nats://HOST[:PORT]/PREFIX[?options]\n", who,
			shown);
		return -EINVAL;
	}
	const char *p = arg + 2;
	const char *auth_end = p + strcspn(p, "/?");
	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(auth_end - p));
		const char *end = comma ? comma : auth_end;
		if (sp->nservers == CEE_NATS_SERVERS_MAX) {
			fprintf(stderr, "%s: '%s': more than %d servers\n", who, shown,
				CEE_NATS_SERVERS_MAX);
			return -EINVAL;
		}
		int rc = parse_server(p, end, &sp->servers[sp->nservers], shown, who);
		if (rc < 0)
			return rc;
		sp->nservers++;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	memcpy(sp->url, sp->servers[0].url, sizeof(sp->url));
	memcpy(sp->host, sp->servers[0].host, sizeof(sp->host));
	sp->port = sp->servers[0].port;
	char *u = sp->urls; /* 301 bytes per server: each url with its comma fits */
	for (unsigned i = 0; i < sp->nservers; i++) {
		size_t n = strlen(sp->servers[i].url);
		if (i > 0)
			*u++ = ',';
		memcpy(u, sp->servers[i].url, n);
		u += n;
	}
	*u = '\0';

	p = auth_end;
	if (*p == '/') {
		p++;
		size_t pl = strcspn(p, "?");
		if (pl >= sizeof(sp->prefix)) {
			fprintf(stderr, "%s: '%s': subject prefix too long (at most %zu)\n", who,
				shown, sizeof(sp->prefix) - 1);
			return -EINVAL;
		}
		memcpy(sp->prefix, p, pl);
		sp->prefix[pl] = '\0';
		if (pl > 0 && !cee_nats_subject_valid(sp->prefix, false)) {
			fprintf(
			    stderr,
			    "%s: '%s': bad subject prefix '%s' (dot-separated tokens, no spaces, "
			    "no '*' or '>')\n",
			    who, shown, sp->prefix);
			return -EINVAL;
		}
		p += pl;
	}
	if (*p == '\0')
		return 0;
	p++; // '?'
	// After a password= or token=, an option's text is never shown: an
	// unencoded '&' in the secret splits it, and its rest was echoed as an
	// option that "is not KEY=VALUE" (a password "ab&cd" printed "cd")
	bool after_secret = false;
#define AFTER_SECRET                                                                               \
	"an option after password= or token= (not shown: it may be part of the secret; write '&' " \
	"in a secret as %%26)"
	while (*p != '\0') {
		const char *amp = p + strcspn(p, "&");
		const char *eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL || eq == p) {
			if (after_secret)
				fprintf(stderr, "%s: '%s': " AFTER_SECRET " is not KEY=VALUE\n", who,
					shown);
			else
				fprintf(stderr, "%s: '%s': option '%.*s' is not KEY=VALUE\n", who,
					shown, (int)(amp - p), p);
			return -EINVAL;
		}
		if (sp->nkv == CEE_NATS_SPEC_KV_MAX) {
			fprintf(stderr, "%s: '%s': too many options\n", who, shown);
			return -EINVAL;
		}
		size_t kl = (size_t)(eq - p);
		if (kl >= sizeof(sp->kv[0].key)) {
			if (after_secret)
				fprintf(stderr, "%s: '%s': " AFTER_SECRET " is unknown\n", who, shown);
			else
				fprintf(stderr, "%s: '%s': unknown option '%.*s'\n", who, shown,
					(int)kl, p);
			return -EINVAL;
		}
		unsigned i = sp->nkv;
		memcpy(sp->kv[i].key, p, kl);
		sp->kv[i].key[kl] = '\0';
		sp->kv[i].after_secret = after_secret;
		for (unsigned j = 0; j < i; j++)
			if (strcmp(sp->kv[j].key, sp->kv[i].key) == 0) {
				if (after_secret)
					fprintf(stderr, "%s: '%s': " AFTER_SECRET " is given twice\n",
						who, shown);
				else
					fprintf(stderr, "%s: '%s': option '%s' given twice\n", who,
						shown, sp->kv[i].key);
				return -EINVAL;
			}
		if (pct_decode(eq + 1, amp, sp->kv[i].val, sizeof(sp->kv[i].val)) < 0) {
			if (after_secret)
				fprintf(stderr,
					"%s: '%s': " AFTER_SECRET " has a bad value (percent-encoding, "
					"length)\n",
					who, shown);
			else
				fprintf(stderr,
					"%s: '%s': bad value for '%s' (percent-encoding, length)\n",
					who, shown, sp->kv[i].key);
			return -EINVAL;
		}
		sp->nkv++;
		after_secret |=
		    strcmp(sp->kv[i].key, "password") == 0 || strcmp(sp->kv[i].key, "token") == 0;
		p = *amp ? amp + 1 : amp;
	}
#undef AFTER_SECRET
	return 0;
}

const char *cee_nats_spec_get(struct cee_nats_spec *sp, const char *key)
{
	for (unsigned i = 0; i < sp->nkv; i++)
		if (strcmp(sp->kv[i].key, key) == 0) {
			sp->kv[i].used = true;
			return sp->kv[i].val;
		}
	return NULL;
}

const char *cee_nats_spec_shown(const struct cee_nats_spec *sp, const char *val)
{
	for (unsigned i = 0; i < sp->nkv; i++)
		if (sp->kv[i].val == val && sp->kv[i].after_secret)
			return "(not shown: given after password= or token=)";
	return val;
}

int cee_nats_spec_u64(struct cee_nats_spec *sp, const char *key, uint64_t lo, uint64_t hi,
		      uint64_t def, uint64_t *out, const char *who)
{
	const char *v = cee_nats_spec_get(sp, key);
	if (v == NULL) {
		*out = def;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < lo || n > hi) {
		fprintf(stderr,
			"%s: bad value for %s: '%s' (a number in %" PRIu64 "..%" PRIu64 ")\n", who,
			key, cee_nats_spec_shown(sp, v), lo, hi);
		return -EINVAL;
	}
	*out = n;
	return 0;
}

int cee_nats_spec_check_unused(const struct cee_nats_spec *sp, const char *who)
{
	for (unsigned i = 0; i < sp->nkv; i++)
		if (!sp->kv[i].used) {
			// (one after a secret may be a piece of it: "ab&cd=x")
			if (sp->kv[i].after_secret)
				fprintf(stderr,
					"%s: an unknown option after password= or token= (not shown: "
					"it may be part of the secret; write '&' in a secret as "
					"%%26)\n",
					who);
			else
				fprintf(stderr, "%s: unknown option '%s'\n", who, sp->kv[i].key);
			return -EINVAL;
		}
	return 0;
}

// libnats' status enum is not ours: -Wswitch-enum would want all of it.
int cee_nats_errno(natsStatus s)
{
	static const struct {
		natsStatus s;
		int e;
	} map[] = {
	    {NATS_OK, 0},
	    {NATS_NO_SERVER, ECONNREFUSED},
	    {NATS_CONNECTION_CLOSED, ENOTCONN},
	    {NATS_CONNECTION_DISCONNECTED, ENOTCONN},
	    {NATS_NOT_YET_CONNECTED, ENOTCONN},
	    {NATS_TIMEOUT, ETIMEDOUT},
	    {NATS_CONNECTION_AUTH_FAILED, EACCES},
	    {NATS_NOT_PERMITTED, EACCES},
	    {NATS_NO_MEMORY, ENOMEM},
	    {NATS_INVALID_ARG, EINVAL},
	    {NATS_INVALID_SUBJECT, EINVAL},
	    {NATS_ADDRESS_MISSING, EINVAL},
	    {NATS_SECURE_CONNECTION_WANTED, EPROTO},
	    {NATS_SECURE_CONNECTION_REQUIRED, EPROTO},
	    {NATS_SSL_ERROR, EPROTO},
	    {NATS_MAX_PAYLOAD, EMSGSIZE},
	    {NATS_INSUFFICIENT_BUFFER, ENOBUFS},
	    {NATS_NOT_FOUND, ENOENT},
	    {NATS_NO_RESPONDERS, EHOSTUNREACH},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].s == s)
			return -map[i].e;
	return -EIO;
}

const char *cee_nats_last_error(natsStatus s)
{
	natsStatus ls = NATS_OK;
	const char *t = nats_GetLastError(&ls);
	if (t == NULL || t[0] == '\0')
		return natsStatus_GetText(s);
	// "(conn.c:2088): No server available": the words only
	const char *w = t[0] == '(' ? strstr(t, "): ") : NULL;
	return w != NULL ? w + 3 : t;
}

static bool readable(const char *path)
{
	return access(path, R_OK) == 0;
}

int cee_nats_options(struct cee_nats_spec *sp, int64_t connect_timeout_ms, natsOptions **out,
		     const char *who)
{
	const char *user = cee_nats_spec_get(sp, "user");
	const char *pass = cee_nats_spec_get(sp, "password");
	const char *token = cee_nats_spec_get(sp, "token");
	const char *creds = cee_nats_spec_get(sp, "creds");
	const char *tls = cee_nats_spec_get(sp, "tls");
	const char *ca = cee_nats_spec_get(sp, "ca");
	const char *cert = cee_nats_spec_get(sp, "cert");
	const char *key = cee_nats_spec_get(sp, "key");
	bool secure = ca != NULL || cert != NULL || key != NULL;

	if (tls != NULL) {
		if (strcmp(tls, "1") != 0 && strcmp(tls, "0") != 0) {
			fprintf(stderr, "%s: bad value for tls: '%s' (0 or 1)\n", who,
				cee_nats_spec_shown(sp, tls));
			return -EINVAL;
		}
		if (tls[0] == '0' && secure) {
			fprintf(stderr, "%s: tls=0 with ca, cert or key\n", who);
			return -EINVAL;
		}
		secure |= tls[0] == '1';
	}
	if (pass != NULL && user == NULL) {
		fprintf(stderr, "%s: password without user\n", who);
		return -EINVAL;
	}
	if (token != NULL && user != NULL) {
		fprintf(stderr, "%s: token and user are exclusive\n", who);
		return -EINVAL;
	}
	if ((cert == NULL) != (key == NULL)) {
		fprintf(stderr, "%s: cert and key go together\n", who);
		return -EINVAL;
	}
	const char *files[] = {creds, ca, cert, key};
	for (unsigned i = 0; i < 4; i++)
		if (files[i] != NULL && !readable(files[i])) {
			fprintf(stderr, "%s: cannot read '%s': %s\n", who,
				cee_nats_spec_shown(sp, files[i]), strerror(errno));
			return -EINVAL;
		}

	natsOptions *o = NULL;
	natsStatus s = natsOptions_Create(&o);
	if (s == NATS_OK && sp->nservers > 1) {
		// in the order given, the first first (libnats shuffles a pool by default)
		const char *list[CEE_NATS_SERVERS_MAX];
		for (unsigned i = 0; i < sp->nservers; i++)
			list[i] = sp->servers[i].url;
		s = natsOptions_SetServers(o, list, (int)sp->nservers);
		if (s == NATS_OK)
			s = natsOptions_SetNoRandomize(o, true);
	} else if (s == NATS_OK) {
		s = natsOptions_SetURL(o, sp->url);
	}
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, connect_timeout_ms);
	if (s == NATS_OK && user != NULL)
		s = natsOptions_SetUserInfo(o, user, pass ? pass : "");
	if (s == NATS_OK && token != NULL)
		s = natsOptions_SetToken(o, token);
	if (s == NATS_OK && creds != NULL)
		s = natsOptions_SetUserCredentialsFromFiles(o, creds, NULL);
	if (s == NATS_OK && secure)
		s = natsOptions_SetSecure(o, true);
	if (s == NATS_OK && ca != NULL)
		s = natsOptions_LoadCATrustedCertificates(o, ca);
	if (s == NATS_OK && cert != NULL)
		s = natsOptions_LoadCertificatesChain(o, cert, key);
	if (s != NATS_OK) {
		fprintf(stderr, "%s: connection options: %s\n", who, cee_nats_last_error(s));
		natsOptions_Destroy(o);
		return s == NATS_NO_MEMORY ? -ENOMEM : -EINVAL;
	}
	*out = o;
	return 0;
}

int cee_nats_connect(natsOptions *opts, const struct cee_nats_spec *sp, natsConnection **nc,
		     int64_t total_ms, const char *who)
{
	// Attempts of the options' timeout each, while they time out (a
	// silent address, a server that does not answer): a refusal is final.
	uint64_t end = cee_nats_now_ns() + (uint64_t)total_ms * 1000000u;
	natsStatus s;
	do
		s = natsConnection_Connect(nc, opts);
	while (s == NATS_TIMEOUT && cee_nats_now_ns() < end);
	if (s != NATS_OK) {
		fprintf(stderr, "%s: cannot connect to %s: %s\n", who, sp->urls,
			cee_nats_last_error(s));
		*nc = NULL;
		int e = cee_nats_errno(s);
		return e ? e : -EIO;
	}
	return 0;
}
