/* SPDX-License-Identifier: GPL-2.0-only */
/* Parsing /proc/iomem; see iomem.h. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iomem.h"
#include "wbutil.h"

#define IOMEM_MAX_BYTES (4u << 20)

/* "  00100000-3fe55fff : System RAM" */
static int parse_line(const char *line, struct iomem_entry *e)
{
	const char *p = line;

	while (*p == ' ')
		p++;
	e->depth = (unsigned int)(p - line) / 2;
	if (wb_parse_u64(p, 16, &e->start, &p) || *p++ != '-' ||
	    wb_parse_u64(p, 16, &e->last, &p) || strncmp(p, " : ", 3))
		return -1;
	snprintf(e->name, sizeof(e->name), "%s", p + 3);
	return 0;
}

int iomem_read(const char *path, struct iomem *io)
{
	char *text = wb_read_text(path, IOMEM_MAX_BYTES), *line, *save = NULL;
	size_t cap = 0;

	memset(io, 0, sizeof(*io));
	if (!text) {
		wb_err("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct iomem_entry e;

		if (parse_line(line, &e)) {
			wb_err("%s: cannot parse line \"%s\"", path, line);
			free(text);
			iomem_free(io);
			return -1;
		}
		if (io->count == cap) {
			cap = cap ? 2 * cap : 64;
			io->e = wb_realloc(io->e, cap * sizeof(*io->e));
		}
		io->e[io->count++] = e;
	}
	free(text);
	return 0;
}

void iomem_free(struct iomem *io)
{
	free(io->e);
	io->e = NULL;
	io->count = 0;
}

void iomem_find(const struct iomem *io, const char *name, int top_only, struct wb_ranges *out)
{
	size_t i;

	for (i = 0; i < io->count; i++) {
		const struct iomem_entry *e = &io->e[i];

		if ((!top_only || e->depth == 0) && !strcmp(e->name, name) &&
		    e->last != UINT64_MAX)
			wb_ranges_add(out, e->start, e->last + 1, 0);
	}
}
