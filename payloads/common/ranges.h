/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Sets of physical ranges [start, end): growable, sortable, mergeable, and
 * with holes cut out. pmtctl builds the PRESERVE regions with them, dumpcap
 * its PT_LOAD list, wbkexec the memory map it hands to the next kernel.
 */

#ifndef WARMBOOT_RANGES_H
#define WARMBOOT_RANGES_H

#include <stddef.h>
#include <stdint.h>

/* end is exclusive; physical memory never reaches the last byte of 2^64. */
struct wb_range {
	uint64_t start;
	uint64_t end;
	uint32_t type;		/* caller-defined; merged ranges keep equal types */
};

struct wb_ranges {
	struct wb_range *r;
	size_t count;
	size_t cap;
};

/* Append (empty ranges are dropped). */
void wb_ranges_add(struct wb_ranges *set, uint64_t start, uint64_t end, uint32_t type);

/* Sort by start, then merge ranges of the same type that overlap or touch. */
void wb_ranges_normalize(struct wb_ranges *set);

/* Cut [start, end) out of every range, splitting where needed. */
void wb_ranges_subtract(struct wb_ranges *set, uint64_t start, uint64_t end);

/* Whether [start, end) overlaps any range, or lies inside a single one. */
int wb_ranges_overlap(const struct wb_ranges *set, uint64_t start, uint64_t end);
int wb_ranges_contain(const struct wb_ranges *set, uint64_t start, uint64_t end);

/* Bytes covered, counting overlaps twice. */
uint64_t wb_ranges_bytes(const struct wb_ranges *set);

void wb_ranges_free(struct wb_ranges *set);

#endif /* WARMBOOT_RANGES_H */
