/* SPDX-License-Identifier: MIT */
/* peer_rcumap_qsbr.c: the rcumap peers in the qsbr flavor (one source, two flavors). */
#define PEER_QSBR 1
#include "peer_rcumap.c"
