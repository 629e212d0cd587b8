/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include "cee_event.h"

/* The binary records carry these numbers (docs/events.md, binary format):
 * a list reordered would make every existing reader decode them wrongly. */
_Static_assert(CEE_EVT_OPEN == 0 && CEE_EVT_ESTABLISHED == 1 && CEE_EVT_TLS_UP == 2 &&
		       CEE_EVT_WS_UP == 3 && CEE_EVT_CLOSED == 4 && CEE_EVT_DESTROYED == 5 &&
		       CEE_EVT_LINK_UP == 6 && CEE_EVT_LINK_DOWN == 7 && CEE_EVT__COUNT == 8,
	       "event type numbers are part of the binary format");
_Static_assert(CEE_REASON_NONE == 0 && CEE_REASON_PEER_FIN == 1 && CEE_REASON_PEER_RST == 2 &&
		       CEE_REASON_LOCAL_CLOSE == 3 && CEE_REASON_IDLE_TIMEOUT == 4 &&
		       CEE_REASON_HANDSHAKE_TIMEOUT == 5 && CEE_REASON_RETRANSMIT_TIMEOUT == 6 &&
		       CEE_REASON_TLS_ALERT == 7 && CEE_REASON_TLS_CLOSE_NOTIFY == 8 &&
		       CEE_REASON_WS_CLOSE == 9 && CEE_REASON_PROTOCOL_ERROR == 10 &&
		       CEE_REASON_ADMIN_KILL == 11 && CEE_REASON_PORT_DOWN == 12 &&
		       CEE_REASON_SHUTDOWN == 13 && CEE_REASON_NO_RESOURCES == 14 &&
		       CEE_REASON_WS_UPGRADE_FAILED == 15 && CEE_REASON_WS_PING_TIMEOUT == 16 &&
		       CEE_REASON_KEEPALIVE_TIMEOUT == 17 && CEE_REASON_ZERO_WINDOW_TIMEOUT == 18 &&
		       CEE_REASON_HOST_UNREACHABLE == 19 && CEE_REASON__COUNT == 20,
	       "reason numbers are part of the binary format");

#define X_STR(e, s) s,
static const char *const evt_names[] = {CEE_EVT_TYPE_LIST(X_STR)};
static const char *const reason_names[] = {CEE_REASON_LIST(X_STR)};
static const char *const proto_names[] = {CEE_PROTO_LIST(X_STR)};
#undef X_STR

#define NAME_OF(tab, i) ((unsigned)(i) < sizeof(tab) / sizeof((tab)[0]) ? (tab)[i] : "?")

const char *cee_evt_type_str(enum cee_evt_type t)
{
	return NAME_OF(evt_names, t);
}

const char *cee_reason_str(enum cee_reason r)
{
	return NAME_OF(reason_names, r);
}

const char *cee_proto_str(enum cee_proto p)
{
	return NAME_OF(proto_names, p);
}

static int lookup(const char *const *tab, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(tab[i], s) == 0)
			return (int)i;
	return -EINVAL;
}

int cee_evt_type_parse(const char *s)
{
	return lookup(evt_names, sizeof(evt_names) / sizeof(evt_names[0]), s);
}

int cee_reason_parse(const char *s)
{
	return lookup(reason_names, sizeof(reason_names) / sizeof(reason_names[0]), s);
}
