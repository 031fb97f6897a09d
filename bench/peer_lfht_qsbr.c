/* SPDX-License-Identifier: MIT */
/* peer_lfht_qsbr.c: the cds_lfht peer in the qsbr flavor (one source, two flavors). */
#define PEER_QSBR 1
#include "peer_lfht.c"
