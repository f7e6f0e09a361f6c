/* SPDX-License-Identifier: GPL-2.0-only */
/* The options every tool takes; see options.h. */

#include <stdlib.h>

#include "options.h"
#include "wbutil.h"

static const char **path_option(struct wb_paths *paths, int opt)
{
	switch (opt) {
	case WB_OPT_MEM:
		return &paths->mem;
	case WB_OPT_IOMEM:
		return &paths->iomem;
	case WB_OPT_SYSFS:
		return &paths->sysfs;
	case WB_OPT_CMDLINE:
		return &paths->cmdline;
	case WB_OPT_CPUINFO:
		return &paths->cpuinfo;
	case WB_OPT_CMOS:
		return &paths->cmos;
	default:
		return NULL;
	}
}

int wb_getopt(int argc, char **argv, const struct option *options, struct wb_paths *paths,
	      void (*usage)(FILE *out))
{
	const char **path;
	int opt;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		path = path_option(paths, opt);
		if (path) {
			*path = optarg;
			continue;
		}
		if (opt == 'h' || opt == WB_OPT_HELP) {
			usage(stdout);
			exit(WB_EXIT_OK);
		}
		if (opt == '?')
			usage(stderr);
		return opt;
	}
	return -1;
}
