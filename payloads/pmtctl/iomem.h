/* SPDX-License-Identifier: GPL-2.0-only */
/* /proc/iomem: the running kernel's view of physical memory. */

#ifndef WARMBOOT_IOMEM_H
#define WARMBOOT_IOMEM_H

#include <stdint.h>

#include "ranges.h"

struct iomem_entry {
	uint64_t start;
	uint64_t last;		/* inclusive, as /proc/iomem prints it */
	unsigned int depth;		/* 0 for top-level lines, +1 per two spaces */
	char name[64];
};

struct iomem {
	struct iomem_entry *e;
	size_t count;
};

/* Parse the file; prints the error. Returns 0 or -1. */
int iomem_read(const char *path, struct iomem *io);
void iomem_free(struct iomem *io);

/*
 * Add every range named name (top-level ones only, if top_only) to out as
 * [start, last + 1), with type 0.
 */
void iomem_find(const struct iomem *io, const char *name, int top_only, struct wb_ranges *out);

#endif /* WARMBOOT_IOMEM_H */
