/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NATS spec's messages keep its secrets (events/cee_nats_common.c,
 * cee_sink_redact()): what cee_nats_spec_parse() and its getters say on
 * stderr about a spec with a password= or token= whose value holds an
 * unencoded '&', and the spec as it is shown.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../stderr_capture.h"
#include "cee_nats_common.h"
#include "cee_sink.h"

static char said[4096]; // what the last captured call wrote to stderr
static struct stderr_capture cap;

static void capture_begin(void)
{
	assert_int_equal(stderr_capture_begin(&cap), 0);
}

static void capture_end(void)
{
	stderr_capture_end(&cap, said, sizeof(said));
}

static int parse(const char *arg, struct cee_nats_spec *sp)
{
	capture_begin();
	int rc = cee_nats_spec_parse(arg, sp, "t");
	capture_end();
	return rc;
}

// Fault (review of the configuration): "password=ab&cd" is split at its
// '&', and the "not KEY=VALUE" error echoed the rest of the password
// ("cd"), as did the redacted spec in the same message.
static void not_key_value_after_password(void **state)
{
	(void)state;
	struct cee_nats_spec sp;
	assert_int_equal(parse("//h:4222/p?user=u&password=topPART&SECRETTAIL", &sp), -EINVAL);
	assert_non_null(strstr(said, "not KEY=VALUE"));
	assert_null(strstr(said, "SECRETTAIL"));
	assert_null(strstr(said, "topPART"));
	// a token too, and after other options
	assert_int_equal(parse("//h/p?token=tokPART&TOKTAIL&stream=S", &sp), -EINVAL);
	assert_null(strstr(said, "TOKTAIL"));
	assert_null(strstr(said, "tokPART"));
	// before any secret, the option is still named
	assert_int_equal(parse("//h/p?bogus&password=x", &sp), -EINVAL);
	assert_non_null(strstr(said, "option 'bogus' is not KEY=VALUE"));
}

// The same secret split into what looks like an option ("ab&cd=x"): it is
// parsed, then refused as unknown, without its name.
static void unknown_option_after_password(void **state)
{
	(void)state;
	struct cee_nats_spec sp;
	assert_int_equal(parse("//h/p?user=u&password=topPART&SECRETKEY=SECRETVAL", &sp), 0);
	assert_non_null(cee_nats_spec_get(&sp, "user"));
	assert_non_null(cee_nats_spec_get(&sp, "password"));
	capture_begin();
	int rc = cee_nats_spec_check_unused(&sp, "t");
	capture_end();
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(said, "unknown option"));
	assert_null(strstr(said, "SECRETKEY"));
	// a value of a known key there is not shown either
	assert_int_equal(parse("//h/p?password=pw&window=SECRETVAL", &sp), 0);
	uint64_t v;
	capture_begin();
	rc = cee_nats_spec_u64(&sp, "window", 1, 1024, 64, &v, "t");
	capture_end();
	assert_int_equal(rc, -EINVAL);
	assert_null(strstr(said, "SECRETVAL"));
	// an unknown option before the secret is named
	assert_int_equal(parse("//h/p?bogus=1&password=pw", &sp), 0);
	(void)cee_nats_spec_get(&sp, "password");
	capture_begin();
	rc = cee_nats_spec_check_unused(&sp, "t");
	capture_end();
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(said, "unknown option 'bogus'"));
}

// The shown spec hides a secret's '&' and what follows it, up to the next
// KEY=VALUE option.
static void redact_secret_with_ampersand(void **state)
{
	(void)state;
	char out[256];
	cee_sink_redact(out, "nats://h:4222/p?user=u&password=ab&cd");
	assert_string_equal(out, "nats://h:4222/p?user=u&password=***");
	cee_sink_redact(out, "nats://h/p?password=ab&cd&stream=S&token=t&x&y=1");
	assert_string_equal(out, "nats://h/p?password=***&stream=S&token=***&y=1");
	cee_sink_redact(out, "nats://h/p?password=a%26b&stream=S");
	assert_string_equal(out, "nats://h/p?password=***&stream=S");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(not_key_value_after_password),
	    cmocka_unit_test(unknown_option_after_password),
	    cmocka_unit_test(redact_secret_with_ampersand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
