/* SPDX-License-Identifier: GPL-2.0-only */
/* Sets of physical ranges; see ranges.h. */

#include <stdlib.h>

#include "ranges.h"
#include "wbutil.h"

void wb_ranges_add(struct wb_ranges *set, uint64_t start, uint64_t end, uint32_t type)
{
	if (end <= start)
		return;
	if (set->count == set->cap) {
		set->cap = set->cap ? 2 * set->cap : 16;
		set->r = wb_realloc(set->r, set->cap * sizeof(*set->r));
	}
	set->r[set->count++] = (struct wb_range){ start, end, type };
}

static int by_start(const void *a, const void *b)
{
	const struct wb_range *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

void wb_ranges_normalize(struct wb_ranges *set)
{
	size_t i, out = 0;

	if (!set->count)
		return;
	qsort(set->r, set->count, sizeof(*set->r), by_start);
	for (i = 1; i < set->count; i++) {
		struct wb_range *last = &set->r[out];

		if (set->r[i].type == last->type && set->r[i].start <= last->end) {
			if (set->r[i].end > last->end)
				last->end = set->r[i].end;
		} else {
			set->r[++out] = set->r[i];
		}
	}
	set->count = out + 1;
}

void wb_ranges_subtract(struct wb_ranges *set, uint64_t start, uint64_t end)
{
	size_t i, n = set->count;

	if (end <= start)
		return;
	for (i = 0; i < n; i++) {
		struct wb_range r = set->r[i];

		if (r.end <= start || r.start >= end)
			continue;
		/* Keep the part below the hole here, append the part above. */
		set->r[i].end = r.start < start ? start : r.start;
		if (r.end > end)
			wb_ranges_add(set, end, r.end, r.type);
	}
	/* Drop what became empty. */
	for (i = 0, n = 0; i < set->count; i++)
		if (set->r[i].end > set->r[i].start)
			set->r[n++] = set->r[i];
	set->count = n;
}

int wb_ranges_overlap(const struct wb_ranges *set, uint64_t start, uint64_t end)
{
	size_t i;

	for (i = 0; i < set->count; i++)
		if (set->r[i].start < end && start < set->r[i].end)
			return 1;
	return 0;
}

int wb_ranges_contain(const struct wb_ranges *set, uint64_t start, uint64_t end)
{
	size_t i;

	for (i = 0; i < set->count; i++)
		if (set->r[i].start <= start && end <= set->r[i].end)
			return 1;
	return 0;
}

uint64_t wb_ranges_bytes(const struct wb_ranges *set)
{
	uint64_t total = 0;
	size_t i;

	for (i = 0; i < set->count; i++)
		total += set->r[i].end - set->r[i].start;
	return total;
}

void wb_ranges_free(struct wb_ranges *set)
{
	free(set->r);
	set->r = NULL;
	set->count = set->cap = 0;
}
