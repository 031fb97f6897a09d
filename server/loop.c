/* SPDX-License-Identifier: MIT */
/* loop.c: one epoll loop per worker: connections, buffers, limits, and where RCU read sections and quiescent states go. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"
#include "rcumapd.h"

/*
 * The RCU protocol of a worker (docs/embedding.md, "An event loop"):
 *
 *   loop:
 *     poll without waiting;                     qsbr: still online
 *     nothing ready -> qsbr: go offline; wait in epoll_wait; come online
 *     memb/bp: read_lock
 *     handle the ready connections: read, run at most pass_budget commands
 *       each, queue replies, write
 *     memb/bp: read_unlock
 *     qsbr: quiescent state
 *
 * Values the store returns are used only during the pass they were read in,
 * so one read section (or the span between two quiescent states) per pass
 * covers them. The per-connection budget bounds how long a pass, and so a
 * grace period's wait for this worker, can last.
 */

#define READ_CHUNK (64 * 1024)
/* Reads per connection per pass: with the budget, bounds one pass's input. */
#define READS_PER_PASS 4
/* Stop reading a client's input while this much output waits for it. */
#define OUT_SOFT_LIMIT (1024 * 1024)
/* An idle buffer larger than this is given back. */
#define BUF_KEEP (64 * 1024)
#define MAX_EVENTS 256

struct worker {
	int idx;
	pthread_t thread;
	int epfd;
	int evfd;                     /* wakes the worker: new connections, stop */
	pthread_mutex_t lock;         /* guards the hand-off queue */
	struct handoff *queue;
	size_t nqueue, capqueue;
	int stop;                     /* set under lock by loop_stop */
	struct conn *ready;           /* connections with input left to run */
	struct conn *dead;            /* closed this pass, freed at its end */
	struct conn *all;             /* every open connection, for shutdown */
	/* Counters: written by the owner only (relaxed), read by INFO. */
	uint64_t clients;
	uint64_t connections;
	uint64_t commands;
	uint64_t dropped;
};

struct handoff {
	int fd;
	enum proto proto;
};

/* Per-connection bookkeeping of the loop, kept beside struct conn. */
struct lconn {
	struct conn c;
	struct lconn *prev, *next;    /* w->all */
	struct lconn *dead_next;
	int closed;
	int reading;                  /* EPOLLIN wanted */
	int eof;                      /* the peer sent EOF: finish replies, then close */
	int writing;                  /* EPOLLOUT wanted */
};

static struct worker *workers;
static int nworkers;
static uint64_t clients_now;      /* acceptor adds, workers subtract; atomic */
static uint64_t next_conn_id;     /* atomic */
static uint64_t rejected;         /* acceptor only; atomic for readers */
static uint64_t handed;           /* acceptor only: round-robin position */
static uint64_t start_ms;

static struct lconn *lc(struct conn *c)
{
	return (struct lconn *)c;
}

/* ---- buffers -------------------------------------------------------------- */

int buf_reserve(struct buf *b, size_t n)
{
	size_t used = b->end - b->start, cap;
	char *p;

	if (b->cap - b->end >= n)
		return 0;
	if (b->start > 0 && b->cap - used >= n && used <= b->cap / 2) {
		memmove(b->data, b->data + b->start, used);
		b->end = used;
		b->start = 0;
		return 0;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap - used < n) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	if (b->start > 0) {
		memmove(b->data, b->data + b->start, used);
		b->end = used;
		b->start = 0;
	}
	p = realloc(b->data, cap);
	if (!p)
		return -1;
	b->data = p;
	b->cap = cap;
	return 0;
}

static void buf_free(struct buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Empty buffers start again at 0; big idle ones go back to malloc. */
static void buf_settle(struct buf *b)
{
	if (b->start == b->end) {
		b->start = b->end = 0;
		if (b->cap > BUF_KEEP)
			buf_free(b);
	}
}

int out_add(struct conn *c, const void *p, size_t n)
{
	struct buf *b = &c->out;

	if (c->broken)
		return -1;
	if (b->end - b->start + n > cfg.max_output_buffer || buf_reserve(b, n) < 0) {
		c->broken = 1;
		return -1;
	}
	memcpy(b->data + b->end, p, n);
	b->end += n;
	return 0;
}

int out_printf(struct conn *c, const char *fmt, ...)
{
	char small[256];
	va_list ap;
	int n;

	if (c->broken)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		c->broken = 1;
		return -1;
	}
	if ((size_t)n < sizeof(small))
		return out_add(c, small, (size_t)n);
	if (c->out.end - c->out.start + (size_t)n + 1 > cfg.max_output_buffer ||
	    buf_reserve(&c->out, (size_t)n + 1) < 0) {
		c->broken = 1;
		return -1;
	}
	va_start(ap, fmt);
	vsnprintf(c->out.data + c->out.end, (size_t)n + 1, fmt, ap);
	va_end(ap);
	c->out.end += (size_t)n;
	return 0;
}

/* ---- connections ----------------------------------------------------------- */

static void set_events(struct worker *w, struct lconn *l, int reading, int writing)
{
	struct epoll_event ev = { 0 };

	if (l->reading == reading && l->writing == writing)
		return;
	ev.events = (reading ? EPOLLIN : 0) | (writing ? EPOLLOUT : 0);
	ev.data.ptr = l;
	epoll_ctl(w->epfd, EPOLL_CTL_MOD, l->c.fd, &ev);
	l->reading = reading;
	l->writing = writing;
}

static void conn_close(struct worker *w, struct lconn *l, int dropped)
{
	if (l->closed)
		return;
	l->closed = 1;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, l->c.fd, NULL);
	close(l->c.fd);
	l->c.fd = -1;
	if (l->prev)
		l->prev->next = l->next;
	else
		w->all = (struct conn *)l->next;
	if (l->next)
		l->next->prev = l->prev;
	l->dead_next = (struct lconn *)w->dead;
	w->dead = &l->c;
	count_own(&w->clients, (uint64_t)-1);
	if (dropped)
		count_own(&w->dropped, 1);
	add_relaxed(&clients_now, (uint64_t)-1); /* a counter for --maxclients; no ordering */
}

/* Free the connections closed during this pass, now that no event names them. */
static void reap(struct worker *w)
{
	struct lconn *l = (struct lconn *)w->dead;
	struct conn **pp = &w->ready;

	/* A connection closed after it was queued for the next pass leaves the queue. */
	while (*pp) {
		if (lc(*pp)->closed)
			*pp = (*pp)->ready_next;
		else
			pp = &(*pp)->ready_next;
	}

	while (l) {
		struct lconn *n = l->dead_next;

		buf_free(&l->c.in);
		buf_free(&l->c.out);
		free(l);
		l = n;
	}
	w->dead = NULL;
}

static void ready_add(struct worker *w, struct conn *c)
{
	if (c->on_ready)
		return;
	c->on_ready = 1;
	c->ready_next = w->ready;
	w->ready = c;
}

/* Write what is queued; returns 0, or -1 after closing the connection. */
static int conn_flush(struct worker *w, struct lconn *l)
{
	struct conn *c = &l->c;

	while (c->out.end > c->out.start) {
		ssize_t n = send(c->fd, c->out.data + c->out.start, c->out.end - c->out.start,
				 MSG_NOSIGNAL);

		if (n > 0) {
			c->out.start += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_close(w, l, 0); /* the peer went away mid-reply */
		return -1;
	}
	buf_settle(&c->out);
	if (c->out.end == c->out.start &&
	    (c->close_after_write || (l->eof && !c->on_ready))) {
		conn_close(w, l, 0);
		return -1;
	}
	/* Input waits while the client does not read its replies. */
	{
		size_t queued = c->out.end - c->out.start;
		int reading = !c->close_after_write && !l->eof && queued < OUT_SOFT_LIMIT;
		int was_reading = l->reading;

		set_events(w, l, reading, queued > 0);
		if (!c->close_after_write && queued < OUT_SOFT_LIMIT &&
		    c->in.end > c->in.start && !(c->need && c->in.end - c->in.start < c->need) &&
		    (!was_reading || l->eof))
			ready_add(w, c); /* input paused behind output: run it again */
	}
	return 0;
}

static int run_protocol(struct conn *c, unsigned budget)
{
	return c->proto == PROTO_RESP ? resp_process(c, budget) : mc_process(c, budget);
}

/* Run buffered commands, at most the pass budget, then write the replies. */
static void conn_run(struct worker *w, struct lconn *l)
{
	struct conn *c = &l->c;
	size_t buffered = c->in.end - c->in.start;
	int n = 0;

	if (c->close_after_write || c->broken || buffered == 0)
		goto flush;
	if (c->out.end - c->out.start >= OUT_SOFT_LIMIT)
		goto flush;
	if (c->need && buffered < c->need)
		goto flush;
	c->need = 0;
	if (cfg.section_per_command && !cfg.is_qsbr) {
		/* One read section per command: taken and left around each one. */
		for (unsigned i = 0; i < cfg.pass_budget; i++) {
			int r;

			cfg.flavor->read_lock();
			r = run_protocol(c, 1);
			cfg.flavor->read_unlock();
			if (r <= 0) {
				n = r < 0 ? r : n;
				break;
			}
			n++;
			if (c->broken || c->close_after_write)
				break;
		}
	} else {
		n = run_protocol(c, cfg.pass_budget);
	}
	if (n > 0)
		count_own(&w->commands, (uint64_t)n);
	if (n < 0)
		c->close_after_write = 1;
	else if ((unsigned)n >= cfg.pass_budget && c->in.end > c->in.start)
		ready_add(w, c); /* more input: next pass, after a quiescent state */
	buf_settle(&c->in);
flush:
	if (c->broken) {
		conn_close(w, l, 1);
		return;
	}
	if (c->close_after_write)
		c->in.start = c->in.end = 0; /* input after QUIT or an error is ignored */
	if (n < 0)
		count_own(&w->dropped, 1);
	conn_flush(w, l);
}

/* Read what the socket has, within the pass's share; 0, or -1 if closed. */
static int conn_read(struct worker *w, struct lconn *l)
{
	struct conn *c = &l->c;

	for (int i = 0; i < READS_PER_PASS; i++) {
		size_t want = READ_CHUNK, buffered = c->in.end - c->in.start;
		ssize_t n;

		if (c->need > buffered && c->need - buffered > want)
			want = c->need - buffered < 4 * READ_CHUNK ? c->need - buffered : 4 * READ_CHUNK;
		if (buf_reserve(&c->in, want) < 0) {
			conn_close(w, l, 1);
			return -1;
		}
		n = recv(c->fd, c->in.data + c->in.end, c->in.cap - c->in.end, 0);
		if (n > 0) {
			c->in.end += (size_t)n;
			if (c->in.end - c->in.start > cfg.max_query_buffer) {
				conn_close(w, l, 1); /* client-query-buffer-limit */
				return -1;
			}
			if ((size_t)n < want)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n == 0) {
			l->eof = 1; /* half-close: run what is buffered, reply, then close */
			set_events(w, l, 0, l->writing);
			break;
		}
		conn_close(w, l, 0); /* reset */
		return -1;
	}
	return 0;
}

static void adopt(struct worker *w, int fd, enum proto proto)
{
	struct lconn *l = calloc(1, sizeof(*l));
	struct epoll_event ev = { 0 };

	if (!l) {
		close(fd);
		add_relaxed(&clients_now, (uint64_t)-1); /* counter; no ordering */
		return;
	}
	l->c.fd = fd;
	l->c.proto = proto;
	l->c.w = w;
	l->c.id = add_relaxed(&next_conn_id, 1) + 1; /* unique ids; no ordering */
	l->c.p.resp.bulk = -1;
	l->reading = 1;
	ev.events = EPOLLIN;
	ev.data.ptr = l;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		free(l);
		add_relaxed(&clients_now, (uint64_t)-1); /* counter; no ordering */
		return;
	}
	l->next = (struct lconn *)w->all;
	if (l->next)
		l->next->prev = l;
	w->all = &l->c;
	count_own(&w->clients, 1);
	count_own(&w->connections, 1);
}

/* New connections and the stop request; returns 1 when the worker must stop. */
static int take_handoffs(struct worker *w)
{
	struct handoff *q;
	size_t n;
	uint64_t v;
	int stop;

	if (read(w->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		return 0;
	pthread_mutex_lock(&w->lock);
	q = w->queue;
	n = w->nqueue;
	w->queue = NULL;
	w->nqueue = w->capqueue = 0;
	stop = w->stop;
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < n; i++) {
		if (stop) {
			close(q[i].fd);
			add_relaxed(&clients_now, (uint64_t)-1); /* counter; no ordering */
		} else {
			adopt(w, q[i].fd, q[i].proto);
		}
	}
	free(q);
	return stop;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[MAX_EVENTS];
	int qsbr = cfg.is_qsbr, stop = 0;
	/* Negative control (rcumapd-never-offline): qsbr never goes offline. */
	int offline_waits = qsbr && !cfg.never_offline;

	cfg.flavor->register_thread();
	store_thread_init();
	while (!stop) {
		int n;

		store_tick();
		n = epoll_wait(w->epfd, evs, MAX_EVENTS, 0);
		if (n == 0 && !w->ready) {
			/* About to block: an online qsbr thread here would stall every grace period. */
			if (offline_waits)
				cfg.flavor->thread_offline();
			n = epoll_wait(w->epfd, evs, MAX_EVENTS, -1);
			if (offline_waits)
				cfg.flavor->thread_online();
			store_tick();
		}
		if (n < 0)
			n = 0; /* EINTR */
		if (!qsbr && !cfg.section_per_command)
			cfg.flavor->read_lock();
		for (int i = 0; i < n; i++) {
			struct lconn *l = evs[i].data.ptr;

			if (!l) {
				stop = take_handoffs(w);
				continue;
			}
			if (l->closed)
				continue;
			if ((evs[i].events & EPOLLERR) ||
			    ((evs[i].events & EPOLLHUP) && !l->reading && !l->writing)) {
				conn_close(w, l, 0); /* nothing more can be read or written */
				continue;
			}
			if ((evs[i].events & (EPOLLIN | EPOLLHUP)) && l->reading) {
				if (conn_read(w, l) < 0)
					continue;
				conn_run(w, l);
				continue;
			}
			if (evs[i].events & (EPOLLOUT | EPOLLHUP))
				conn_flush(w, l);
		}
		/* Connections with input left from an earlier pass. */
		{
			struct conn *r = w->ready;

			w->ready = NULL;
			while (r) {
				struct conn *next = r->ready_next;

				r->on_ready = 0;
				r->ready_next = NULL;
				if (!lc(r)->closed)
					conn_run(w, lc(r));
				r = next;
			}
		}
		if (!qsbr && !cfg.section_per_command)
			cfg.flavor->read_unlock();
		reap(w);
		/* qsbr: nothing read in this pass is used after this point. */
		if (qsbr)
			cfg.flavor->read_quiescent_state();
	}
	/* Shutdown: close every connection; nothing is half-written to the map. */
	while (w->all)
		conn_close(w, lc(w->all), 0);
	reap(w);
	cfg.flavor->unregister_thread();
	return NULL;
}

/* ---- the acceptor's side -------------------------------------------------- */

int loop_start(int threads)
{
	sigset_t all, old;

	start_ms = store_now_ms();
	workers = calloc((size_t)threads, sizeof(*workers));
	if (!workers)
		return -ENOMEM;
	nworkers = threads;
	/* Workers take no signals: main handles SIGTERM/SIGINT. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < threads; i++) {
		struct worker *w = &workers[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
		int rc;

		w->idx = i;
		pthread_mutex_init(&w->lock, NULL);
		w->epfd = epoll_create1(EPOLL_CLOEXEC);
		w->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (w->epfd < 0 || w->evfd < 0 || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->evfd, &ev) < 0) {
			rc = -errno;
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			nworkers = i;
			return rc;
		}
		rc = pthread_create(&w->thread, NULL, worker_main, w);
		if (rc) {
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			nworkers = i;
			return -rc;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

static void wake(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("rcumapd: eventfd write");
}

void loop_handoff(int fd, enum proto proto)
{
	struct worker *w;
	uint64_t now = ld_relaxed(&clients_now); /* approximate is enough for the limit */

	if (now >= cfg.maxclients) {
		const char *msg = proto == PROTO_RESP ? RESP_MAXCLIENTS_REPLY : MC_MAXCLIENTS_REPLY;

		if (send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			(void)0; /* the client is refused either way */
		close(fd);
		add_relaxed(&rejected, 1); /* statistics */
		return;
	}
	add_relaxed(&clients_now, 1); /* counter for --maxclients; no ordering */
	/* Connection k goes to worker k mod N (tests rely on this order). */
	w = &workers[handed++ % (uint64_t)nworkers];
	pthread_mutex_lock(&w->lock);
	if (w->nqueue == w->capqueue) {
		size_t cap = w->capqueue ? 2 * w->capqueue : 16;
		struct handoff *q = realloc(w->queue, cap * sizeof(*q));

		if (!q) {
			pthread_mutex_unlock(&w->lock);
			close(fd);
			add_relaxed(&clients_now, (uint64_t)-1); /* counter; no ordering */
			return;
		}
		w->queue = q;
		w->capqueue = cap;
	}
	w->queue[w->nqueue].fd = fd;
	w->queue[w->nqueue].proto = proto;
	w->nqueue++;
	pthread_mutex_unlock(&w->lock);
	wake(w);
}

void loop_stop(void)
{
	for (int i = 0; i < nworkers; i++) {
		pthread_mutex_lock(&workers[i].lock);
		workers[i].stop = 1;
		pthread_mutex_unlock(&workers[i].lock);
		wake(&workers[i]);
	}
	for (int i = 0; i < nworkers; i++) {
		pthread_join(workers[i].thread, NULL);
		close(workers[i].epfd);
		close(workers[i].evfd);
		pthread_mutex_destroy(&workers[i].lock);
		free(workers[i].queue);
	}
	free(workers);
	workers = NULL;
	nworkers = 0;
}

void server_counters(struct server_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < nworkers; i++) {
		/* Owner-written counters: relaxed reads, not one snapshot. */
		out->clients += ld_relaxed(&workers[i].clients);
		out->connections += ld_relaxed(&workers[i].connections);
		out->commands += ld_relaxed(&workers[i].commands);
		out->dropped += ld_relaxed(&workers[i].dropped);
	}
	out->rejected = ld_relaxed(&rejected); /* statistics */
	out->start_ms = start_ms;
}
