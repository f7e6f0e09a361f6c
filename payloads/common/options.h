/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Where the tools read the system from. Every input is a path an option
 * can override, so the same binaries run on the host in tests against a
 * memory image and fake /proc and /sys trees.
 */

#ifndef WARMBOOT_OPTIONS_H
#define WARMBOOT_OPTIONS_H

#include <getopt.h>
#include <stdio.h>

struct wb_paths {
	const char *mem;	/* physical memory: /dev/mem or a raw image */
	const char *iomem;	/* /proc/iomem */
	const char *sysfs;	/* /sys */
	const char *cmdline;	/* /proc/cmdline */
	const char *cpuinfo;	/* /proc/cpuinfo */
	const char *cmos;	/* NULL: the real CMOS through /dev/port */
};

#define WB_PATHS_INIT { "/dev/mem", "/proc/iomem", "/sys", "/proc/cmdline", "/proc/cpuinfo", NULL }

enum {
	WB_OPT_MEM = 0x1000,
	WB_OPT_IOMEM,
	WB_OPT_SYSFS,
	WB_OPT_CMDLINE,
	WB_OPT_CPUINFO,
	WB_OPT_CMOS,
	WB_OPT_HELP,
	WB_OPT_TOOL,		/* first value free for a tool's own options */
};

/* The options every tool takes; a tool's option table starts with these. */
#define WB_COMMON_LONG_OPTIONS \
	{ "mem", required_argument, NULL, WB_OPT_MEM }, \
	{ "iomem", required_argument, NULL, WB_OPT_IOMEM }, \
	{ "sysfs", required_argument, NULL, WB_OPT_SYSFS }, \
	{ "cmdline", required_argument, NULL, WB_OPT_CMDLINE }, \
	{ "cpuinfo", required_argument, NULL, WB_OPT_CPUINFO }, \
	{ "cmos", required_argument, NULL, WB_OPT_CMOS }, \
	{ "help", no_argument, NULL, WB_OPT_HELP }

#define WB_PATH_USAGE \
	"  --mem FILE      physical memory (default /dev/mem; a raw image works the same)\n" \
	"  --iomem FILE    /proc/iomem\n" \
	"  --sysfs DIR     /sys\n" \
	"  --cmdline FILE  /proc/cmdline\n" \
	"  --cpuinfo FILE  /proc/cpuinfo\n" \
	"  --cmos FILE     a 128-byte CMOS image (default: the CMOS through /dev/port)\n"

/*
 * getopt_long() for the tools: takes the path options into paths and
 * -h/--help (usage on stdout, exit 0) itself and returns the tool's own
 * options, or -1 at the end. For an unknown option it prints the usage on
 * stderr and returns '?'.
 */
int wb_getopt(int argc, char **argv, const struct option *options, struct wb_paths *paths,
	      void (*usage)(FILE *out));

#endif /* WARMBOOT_OPTIONS_H */
