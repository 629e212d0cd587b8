/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdlib.h>

#include "cee_timer.h"

// Time is cut into ticks of tick_ns; a deadline at_ns belongs to tick
// ceil(at_ns / tick_ns), so a node never fires before at_ns. Tick t lives in
// slot t & mask. Every slot and the overdue list is a circular doubly-linked
// list around a sentinel, so an armed node always has next != NULL and
// unlinking needs no head pointer.
//
// Invariants (single writer: the owning lcore):
// - now_ns is the latest time seen (create, expire); a node armed for at_ns
//   <= now_ns goes to the overdue list, which the next expire drains first.
//   Every other node's tick is > tick(now_ns) >= next_tick - 1;
// - ticks < next_tick have been walked, but for the slots left unvisited when
//   a budget ran out mid-catch-up (see cee_timer_expire); their nodes still
//   fire, as every walk continues from next_tick;
// - any other armed node is in slot (its tick & mask); a slot also holds nodes
//   for later revolutions, which a visit skips (they stay where they are:
//   their slot is already right for their tick);
// - count is the number of nodes in the slots, the overdue list, and the
//   list an expire is working through.
struct cee_timer_wheel {
	uint64_t tick_ns;
	uint64_t now_ns;
	uint64_t next_tick;
	uint64_t mask;
	unsigned tick_shift; // log2(tick_ns) when tick_ns is a power of two
	bool tick_pow2;
	uint32_t count;
	cee_timer_prefetch_fn prefetch; // may be NULL
	struct cee_timer_node overdue;
	struct cee_timer_node slots[];
};

static inline void list_init(struct cee_timer_node *head)
{
	head->next = head;
	head->prev = head;
}

static inline bool list_empty(const struct cee_timer_node *head)
{
	return head->next == head;
}

static inline void list_add_tail(struct cee_timer_node *head, struct cee_timer_node *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void list_del(struct cee_timer_node *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = NULL;
	n->prev = NULL;
}

// Move every node of @from to the front of @to; @from ends empty.
static inline void list_splice_front(struct cee_timer_node *from, struct cee_timer_node *to)
{
	if (list_empty(from))
		return;
	struct cee_timer_node *first = from->next, *last = from->prev;
	last->next = to->next;
	to->next->prev = last;
	to->next = first;
	first->prev = to;
	list_init(from);
}

static inline uint64_t tick_floor(const struct cee_timer_wheel *w, uint64_t ns)
{
	return w->tick_pow2 ? ns >> w->tick_shift : ns / w->tick_ns;
}

// No overflow for ns near UINT64_MAX (a common "never" deadline).
static inline uint64_t tick_ceil(const struct cee_timer_wheel *w, uint64_t ns)
{
	if (w->tick_pow2)
		return (ns >> w->tick_shift) + ((ns & (w->tick_ns - 1)) != 0);
	return ns / w->tick_ns + (ns % w->tick_ns != 0);
}

struct cee_timer_wheel *cee_timer_wheel_create(uint64_t tick_ns, uint32_t nslots, uint64_t now_ns)
{
	if (tick_ns == 0 || nslots == 0 || nslots > (UINT32_C(1) << 31)) {
		errno = EINVAL;
		return NULL;
	}
	uint64_t n = 1;
	while (n < nslots)
		n <<= 1;

	struct cee_timer_wheel *w = calloc(1, sizeof(*w) + n * sizeof(w->slots[0]));
	if (w == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	w->tick_ns = tick_ns;
	w->mask = n - 1;
	w->tick_pow2 = (tick_ns & (tick_ns - 1)) == 0;
	w->tick_shift = 0;
	while (w->tick_pow2 && (UINT64_C(1) << w->tick_shift) < tick_ns)
		w->tick_shift++;
	w->now_ns = now_ns;
	w->next_tick = tick_floor(w, now_ns) + 1;
	list_init(&w->overdue);
	for (uint64_t i = 0; i < n; i++)
		list_init(&w->slots[i]);
	return w;
}

static void disarm_all(struct cee_timer_node *head)
{
	while (!list_empty(head))
		list_del(head->next);
}

void cee_timer_wheel_destroy(struct cee_timer_wheel *w)
{
	if (w == NULL)
		return;
	// Owners may outlive the wheel: leave their nodes reading "not armed".
	disarm_all(&w->overdue);
	for (uint64_t i = 0; i <= w->mask; i++)
		disarm_all(&w->slots[i]);
	free(w);
}

void cee_timer_arm(struct cee_timer_wheel *w, struct cee_timer_node *n, uint64_t at_ns)
{
	if (n->next != NULL)
		list_del(n);
	else
		w->count++;
	n->at_ns = at_ns;
	if (at_ns <= w->now_ns)
		list_add_tail(&w->overdue, n);
	else
		list_add_tail(&w->slots[tick_ceil(w, at_ns) & w->mask], n);
}

void cee_timer_cancel(struct cee_timer_wheel *w, struct cee_timer_node *n)
{
	if (n->next == NULL)
		return;
	list_del(n);
	w->count--;
}

// Fire the nodes of @head due by @limit_ns (at_ns <= limit_ns), at most @room.
// The list is first moved to a local sentinel so that fn can arm, re-arm or
// cancel any node, this list's included, without upsetting the walk; nodes
// (re-)armed by fn land in their own slot or the overdue list, never in the
// local list, so one expire fires a node at most once. Not-due nodes go back
// to @head; when @room runs out the unvisited rest goes back too.
// Returns nodes fired; *done is false when nodes were left unvisited.
static unsigned run_list(struct cee_timer_wheel *w, struct cee_timer_node *head, uint64_t limit_ns,
			 uint64_t now_ns, unsigned room, cee_timer_fn fn, void *arg, bool *done)
{
	struct cee_timer_node pending;
	unsigned fired = 0;

	list_init(&pending);
	list_splice_front(head, &pending);
	while (!list_empty(&pending)) {
		struct cee_timer_node *n = pending.next;
		if (n->at_ns > limit_ns) {
			list_del(n);
			list_add_tail(head, n);
			continue;
		}
		if (fired == room) {
			list_splice_front(&pending, head);
			*done = false;
			return fired;
		}
		list_del(n);
		w->count--;
		fired++;
		// The nodes live in their owners' objects, cold by the time they
		// fire: start loading the next one while this one runs.
		if (w->prefetch != NULL && !list_empty(&pending))
			w->prefetch(pending.next);
		fn(arg, n, now_ns);
	}
	*done = true;
	return fired;
}

void cee_timer_wheel_set_prefetch(struct cee_timer_wheel *w, cee_timer_prefetch_fn fn)
{
	w->prefetch = fn;
}

unsigned cee_timer_expire(struct cee_timer_wheel *w, uint64_t now_ns, unsigned budget,
			  cee_timer_fn fn, void *arg)
{
	unsigned fired = 0;
	bool done;

	if (budget == 0)
		return 0;
	// Time is assumed monotonic; a clock going back does not rewind the wheel.
	if (now_ns > w->now_ns)
		w->now_ns = now_ns;
	// Overdue nodes are older than any tick still to walk: they go first.
	if (!list_empty(&w->overdue)) {
		fired = run_list(w, &w->overdue, UINT64_MAX, now_ns, budget, fn, arg, &done);
		if (!done)
			return fired;
	}

	uint64_t now_tick = tick_floor(w, now_ns);
	uint64_t t = w->next_tick;
	if (now_tick < t)
		return fired;
	if (w->count == 0) {
		w->next_tick = now_tick + 1;
		return fired;
	}
	// After a stall of a revolution or more, walk only the last revolution:
	// it visits every slot once and every overdue node is due in it.
	uint64_t span = now_tick - t;
	if (span > w->mask) {
		t = now_tick - w->mask;
		span = w->mask;
	}
	// A tick's nodes are due when at_ns <= limit_ns; with limit_ns the start
	// of now's tick this is "tick <= now_tick" and fires none early.
	uint64_t limit_ns = now_tick * w->tick_ns;
	for (uint64_t i = 0; i <= span; i++, t++) {
		if (fired == budget) {
			w->next_tick = t;
			return fired;
		}
		struct cee_timer_node *head = &w->slots[t & w->mask];
		if (list_empty(head))
			continue;
		// fn arms for at_ns <= now_ns into the overdue list, for later
		// ticks into their slots: either fires on a later call.
		fired += run_list(w, head, limit_ns, now_ns, budget - fired, fn, arg, &done);
		if (!done) {
			w->next_tick = t; // revisit slot t
			return fired;
		}
	}
	w->next_tick = now_tick + 1;
	return fired;
}

uint32_t cee_timer_count(const struct cee_timer_wheel *w)
{
	return w->count;
}
