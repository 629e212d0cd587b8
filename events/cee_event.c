/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include "cee_event.h"

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
