/* SPDX-License-Identifier: BSD-3-Clause */
#pragma once

#include <stdint.h>

/* Seed the random generators wolfSSL creates from now on with the stream
 * named @p end (fuzz_seed.c): the same stream, the same handshake. The
 * fuzz targets and seedgen name a TLS server end 1 and a client end 2. */
void fuzz_seed_reset(uint64_t end);

#define FUZZ_SEED_SERVER 1
#define FUZZ_SEED_CLIENT 2
