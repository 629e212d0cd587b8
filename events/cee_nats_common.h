/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * What the NATS sink (cee_sink_nats.c), cee-tail and cee-natspub share: the
 * "//HOST:PORT[,HOST:PORT...]/PREFIX?key=value&..." spec (several servers:
 * the connection tries them in the order given, at start and when it is
 * lost, besides those a cluster advertises), the connection options every one
 * of them accepts, and libnats status codes as errno values. Built only with
 * libnats (CEE_HAVE_NATS); includes nats.h.
 *
 * Connection keys (cee_nats_options()):
 *   user=U&password=P   user and password
 *   token=T             an authentication token (not with user)
 *   creds=FILE          a credentials file (JWT and NKey seed)
 *   tls=1               TLS (implied by ca, cert, key)
 *   ca=FILE             CA certificates the server is verified against
 *   cert=FILE&key=FILE  a client certificate chain and its key (both or neither)
 * Values are percent-decoded ("%26" is '&').
 */

#include <stdbool.h>
#include <stdint.h>

#include <nats/nats.h>

#define CEE_NATS_SPEC_KV_MAX 24
#define CEE_NATS_SPEC_VAL_MAX 256
#define CEE_NATS_SERVERS_MAX 8 /**< servers one spec may list */

/** One server of a spec. */
struct cee_nats_server {
	char url[300];	/**< "nats://HOST:PORT" */
	char host[256]; /**< as given ([v6] with its brackets) */
	uint16_t port;	/**< 4222 when not given */
};

/** A parsed spec. */
struct cee_nats_spec {
	char url[300];	  /**< the first server's "nats://HOST:PORT" */
	char host[256];	  /**< the first server's host, as given ([v6] with its brackets) */
	uint16_t port;	  /**< the first server's port, 4222 when not given */
	unsigned nservers; /**< servers listed (1 .. CEE_NATS_SERVERS_MAX) */
	struct cee_nats_server servers[CEE_NATS_SERVERS_MAX]; /**< [0] is the first one above */
	char urls[CEE_NATS_SERVERS_MAX * 301]; /**< all of them, comma-separated (messages) */
	char prefix[128]; /**< the subject prefix, "" when none was given */
	unsigned nkv;
	struct {
		char key[32];
		char val[CEE_NATS_SPEC_VAL_MAX];
		bool used; /**< read by a cee_nats_spec_*() getter */
		/**
		 * Given after a password= or token=: possibly a piece of the
		 * secret (an unencoded '&' in it), so messages do not show it.
		 */
		bool after_secret;
	} kv[CEE_NATS_SPEC_KV_MAX];
};

/**
 * Parse @p arg, "//HOST[:PORT][,HOST[:PORT]...][/PREFIX][?k=v&...]" (the
 * text after "nats:"). A message naming @p who goes to stderr on error.
 * @return 0, or -EINVAL (bad host, port, prefix, option syntax, an option
 * given twice, more than CEE_NATS_SERVERS_MAX servers).
 */
int cee_nats_spec_parse(const char *arg, struct cee_nats_spec *sp, const char *who);
/**
 * @p val (a value cee_nats_spec_get() returned) as a message may show it:
 * a placeholder for one given after a password= or token=, which may be a
 * piece of the secret.
 */
const char *cee_nats_spec_shown(const struct cee_nats_spec *sp, const char *val);
/** Value of @p key (marked used), or NULL when absent. */
const char *cee_nats_spec_get(struct cee_nats_spec *sp, const char *key);
/**
 * Unsigned number @p key in [@p lo, @p hi], @p def when absent.
 * @return 0, or -EINVAL (message on stderr).
 */
int cee_nats_spec_u64(struct cee_nats_spec *sp, const char *key, uint64_t lo, uint64_t hi,
		      uint64_t def, uint64_t *out, const char *who);
/** @return 0, or -EINVAL when a key was given that no getter read (message on stderr). */
int cee_nats_spec_check_unused(const struct cee_nats_spec *sp, const char *who);

/** Is @p s a valid stream or consumer name (1..64 of [A-Za-z0-9_-])? */
bool cee_nats_name_valid(const char *s);
/**
 * Is @p s a valid subject: dot-separated non-empty tokens of printable
 * characters other than space; with @p wildcards, '*' tokens and a final
 * '>' token are allowed, otherwise no '*' or '>' at all.
 */
bool cee_nats_subject_valid(const char *s, bool wildcards);

/**
 * New options for the spec's server with the connection keys above
 * consumed, a connect timeout of @p connect_timeout_ms, and no
 * reconnection settings (the caller adds its own).
 * @return 0, or -EINVAL (bad combination, unreadable file; message on
 * stderr), -ENOMEM.
 */
int cee_nats_options(struct cee_nats_spec *sp, int64_t connect_timeout_ms, natsOptions **out,
		     const char *who);
/**
 * Connect with @p opts, trying again while attempts time out, for at most
 * about @p total_ms; on failure a message naming the server and why goes to
 * stderr. @return 0, or -errno (cee_nats_errno()).
 */
int cee_nats_connect(natsOptions *opts, const struct cee_nats_spec *sp, natsConnection **nc,
		     int64_t total_ms, const char *who);
/** The calling thread's last libnats error text (without its source position), or @p s's. */
const char *cee_nats_last_error(natsStatus s);
/** @p s as a -errno value (NATS_OK is 0). */
int cee_nats_errno(natsStatus s);
/** CLOCK_MONOTONIC in nanoseconds. */
uint64_t cee_nats_now_ns(void);
