/* SPDX-License-Identifier: GPL-2.0-only */
/* The running kernel's crash-dump facts; see oskernel.h. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oskernel.h"
#include "pmt.h"
#include "wbutil.h"

#define SMALL_FILE 4096u
#define CPUINFO_MAX (8u << 20)
#define CMDLINE_MAX 65536u
/* A CPU_STATE slot must not match an id the SMM handler could have. */
#define NO_CPU_ID UINT64_MAX

/* "0-3,5" (cpulist format): the highest CPU number + 1. */
static int parse_cpu_count(const char *path, unsigned int *count)
{
	char *text = wb_read_text(path, SMALL_FILE);
	const char *p;
	uint64_t n, highest = 0;
	int any = 0;

	if (!text) {
		wb_err("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	for (p = text; *p && *p != '\n';) {
		if (wb_parse_u64(p, 10, &n, &p))
			goto bad;
		if (*p == '-' && wb_parse_u64(p + 1, 10, &n, &p))
			goto bad;
		if (n > highest || !any)
			highest = n;
		any = 1;
		if (*p == ',')
			p++;
		else if (*p && *p != '\n')
			goto bad;
	}
	if (!any || highest >= PMT_DEFAULT_MAX_CPUS)
		goto bad;
	free(text);
	*count = (unsigned int)highest + 1;
	return 0;
bad:
	wb_err("%s: cannot parse the CPU list \"%.40s\"", path, text);
	free(text);
	return -1;
}

/* "processor : N" starts a block; its "apicid : X" is CPU N's APIC id. */
static void read_apic_ids(const char *path, struct os_kernel *k)
{
	char *text = wb_read_text(path, CPUINFO_MAX), *line, *save = NULL;
	uint64_t cpu = UINT64_MAX, value;
	unsigned int i, j;

	if (!text) {
		wb_warn("cannot read %s (%s): CPU_STATE slots get CPU numbers as ids", path,
			strerror(errno));
	} else {
		for (line = strtok_r(text, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save)) {
			char *colon = strchr(line, ':');

			if (!colon || wb_parse_u64(colon + 1 + (colon[1] == ' '), 10, &value, NULL))
				continue;
			if (!strncmp(line, "processor", 9) && (line[9] == ' ' || line[9] == '\t'))
				cpu = value;
			else if (!strncmp(line, "apicid", 6) &&
				 (line[6] == ' ' || line[6] == '\t') && cpu < k->cpu_count) {
				k->cpu[cpu].cpu_id = value;
				k->cpu[cpu].has_cpu_id = 1;
			}
		}
		free(text);
	}
	/*
	 * CPUs /proc/cpuinfo does not list (offline, or no apicid field) fall
	 * back to their CPU number, unless a listed CPU has that APIC id.
	 */
	for (i = 0; i < k->cpu_count; i++) {
		if (k->cpu[i].has_cpu_id)
			continue;
		k->cpu[i].cpu_id = i;
		for (j = 0; j < k->cpu_count; j++)
			if (k->cpu[j].has_cpu_id && k->cpu[j].cpu_id == i)
				k->cpu[i].cpu_id = NO_CPU_ID;
	}
}

static int read_number_file(const char *path, int base, uint64_t *value)
{
	char *text = wb_read_text(path, SMALL_FILE);
	int rc;

	if (!text)
		return -1;
	rc = wb_parse_u64(text, base, value, NULL);
	free(text);
	if (rc)
		errno = EINVAL;
	return rc;
}

static void read_crash_notes(const struct wb_paths *paths, struct os_kernel *k)
{
	unsigned int i;

	for (i = 0; i < k->cpu_count; i++) {
		char *addr = wb_asprintf("%s/devices/system/cpu/cpu%u/crash_notes", paths->sysfs,
					 i);
		char *size = wb_asprintf("%s_size", addr);
		struct os_cpu *c = &k->cpu[i];

		/* "%llx" without a prefix in 6.1; accept one anyway. */
		if (read_number_file(addr, 16, &c->notes_addr)) {
			if (errno != ENOENT)
				wb_warn("cpu %u: no crash notes: %s: %s", i, addr, strerror(errno));
		} else if (read_number_file(size, 10, &c->notes_size) || !c->notes_size) {
			wb_warn("cpu %u: no crash notes: cannot read %s", i, size);
		} else {
			c->has_notes = 1;
		}
		free(addr);
		free(size);
	}
}

static int read_vmcoreinfo(const struct wb_paths *paths, struct os_kernel *k)
{
	char *path = wb_asprintf("%s/kernel/vmcoreinfo", paths->sysfs);
	char *text = wb_read_text(path, SMALL_FILE);
	const char *p;
	int rc = -1;

	if (!text) {
		wb_err("cannot read %s: %s (the dump needs VMCOREINFO: CONFIG_CRASH_CORE)", path,
		       strerror(errno));
	} else if (wb_parse_u64(text, 16, &k->vmcoreinfo_addr, &p) || *p != ' ' ||
		   wb_parse_u64(p + 1, 16, &k->vmcoreinfo_size, NULL) || !k->vmcoreinfo_size) {
		wb_err("%s: expected \"ADDRESS SIZE\" in hex, got \"%.40s\"", path, text);
	} else {
		rc = 0;
	}
	free(text);
	free(path);
	return rc;
}

int os_kernel_read(const struct wb_paths *paths, struct os_kernel *k)
{
	char *possible = wb_asprintf("%s/devices/system/cpu/possible", paths->sysfs);
	int rc;

	memset(k, 0, sizeof(*k));
	rc = parse_cpu_count(possible, &k->cpu_count);
	free(possible);
	if (rc)
		return -1;
	k->cpu = wb_zalloc(k->cpu_count * sizeof(*k->cpu));
	read_apic_ids(paths->cpuinfo, k);
	read_crash_notes(paths, k);
	if (read_vmcoreinfo(paths, k)) {
		os_kernel_free(k);
		return -1;
	}
	return 0;
}

void os_kernel_free(struct os_kernel *k)
{
	free(k->cpu);
	k->cpu = NULL;
}

int os_cma_area(const char *cmdline_path, uint64_t *base, uint64_t *size)
{
	char *text = wb_read_text(cmdline_path, CMDLINE_MAX), *tok, *save = NULL;
	const char *found = NULL, *p;
	uint64_t limit;
	int rc = -1;

	if (!text) {
		wb_err("cannot read %s: %s", cmdline_path, strerror(errno));
		return -1;
	}
	/* The kernel parses every cma= in turn: the last one wins. */
	for (tok = strtok_r(text, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save))
		if (!strncmp(tok, "cma=", 4))
			found = tok;
	if (!found) {
		wb_err("no cma= on the kernel command line (%s): boot the OS with cma=SIZE@BASE "
		       "(at least the boot window's size) or pass --dest", cmdline_path);
	} else if (wb_memparse(found + 4, size, &p) || *p != '@' ||
		   wb_memparse(p + 1, base, &p) || (*p && *p != '-')) {
		wb_err("%s does not give a fixed base: expected cma=SIZE@BASE", found);
	} else if (*p == '-' && (wb_memparse(p + 1, &limit, NULL) || limit != *base + *size)) {
		/* dma_contiguous_reserve() places it at BASE only if END = BASE + SIZE. */
		wb_err("%s lets the kernel place the area anywhere below its limit: expected "
		       "cma=SIZE@BASE", found);
	} else if (!*size) {
		wb_err("%s reserves nothing", found);
	} else {
		rc = 0;
	}
	free(text);
	return rc;
}
