/* SPDX-License-Identifier: MIT */
/* loop.h: what main.c calls in loop.c: start the workers, hand them connections, stop them. */
#ifndef RCUMAPD_LOOP_H
#define RCUMAPD_LOOP_H

#include "rcumapd.h"

/* Start the worker threads, each with its epoll loop. Return 0 or -errno. */
int loop_start(int threads);
/*
 * Give an accepted, non-blocking socket to the next worker (connection k
 * goes to worker k mod threads), or refuse it with the protocol's error
 * reply when --maxclients are connected. Called by the acceptor only.
 */
void loop_handoff(int fd, enum proto proto);
/* Close every connection, join the workers. Called once, after accepting stops. */
void loop_stop(void);

#endif /* RCUMAPD_LOOP_H */
