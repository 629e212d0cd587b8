/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

/**
 * @file
 * NATS JetStream event sink ("nats://HOST:PORT/PREFIX?..."), built when
 * libnats is found (CEE_HAVE_NATS is then defined for the programs that
 * call cee_sink_nats_register()). The message format is described at the
 * top of cee_sink_nats.c.
 */

#include <stdint.h>

struct cee_sink;

/**
 * Register the "nats" sink kind (cee_sink_open("nats://...")).
 * @return 0, -EEXIST when already registered, or -ENOSPC.
 */
int cee_sink_nats_register(void);

/**
 * The kind's open function (what cee_sink_register("nats", ...) is given):
 * @p arg is the text after "nats:". For programs that wrap it to keep the
 * sink (cee-bench reads its counters). @return the sink, or NULL + errno
 * (EINVAL: bad spec or stream; ECONNREFUSED, ETIMEDOUT, EACCES: the server).
 */
struct cee_sink *cee_sink_nats_open(const char *arg);

/** Counters of one NATS sink (control thread's view). */
struct cee_sink_nats_stats {
	uint64_t published; /**< publish calls libnats accepted (first sends and resends) */
	uint64_t acked;	    /**< messages acknowledged by the stream */
	uint64_t
	    acked_duplicate; /**< of those, acknowledged as duplicates (a resend that had landed) */
	uint64_t republished;	     /**< resends of a sealed message after a failure */
	uint64_t fail_timeout;	     /**< no acknowledgement within ack_wait_ms */
	uint64_t fail_no_responders; /**< no stream answered (fail-over, stream missing) */
	uint64_t fail_api;	     /**< the stream answered with an error */
	uint64_t fail_publish;	     /**< the publish call itself failed (buffer, connection) */
	uint64_t fail_other;	     /**< any other failure */
	uint64_t
	    fail_connection;  /**< in flight when the connection dropped: taken back, sent again */
	uint64_t bytes;	      /**< body bytes acknowledged */
	uint64_t events;      /**< lifecycle events acknowledged */
	uint64_t sealed_size; /**< batches sealed because they reached batch_bytes */
	uint64_t sealed_age;  /**< batches sealed because they were older than linger_ms */
	uint64_t window_full; /**< times a record could not be taken: every window slot used */
	uint64_t disconnects; /**< connection losses seen */
	uint64_t reconnects;  /**< reconnections seen */
	uint64_t max_call_ns; /**< longest write() or flush() call (none calls into libnats' connection: the publisher thread does) */
	uint64_t calls_over_1ms; /**< write() and flush() calls longer than 1 ms */
	uint64_t stream_recreated; /**< times the stream was found deleted and created again */
	uint32_t inflight;	 /**< messages published and not acknowledged now */
	uint32_t sealed;	 /**< sealed messages now (in flight, waiting or backing off) */
	uint32_t window;	 /**< most sealed messages */
};

/**
 * Copy the counters of @p s, a sink opened as "nats://...".
 * @return 0, or -EINVAL when @p s is not a NATS sink.
 */
int cee_sink_nats_stats(const struct cee_sink *s, struct cee_sink_nats_stats *st);
