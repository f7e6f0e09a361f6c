/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the running kernel tells userspace that a PMT needs: its possible
 * CPUs with their APIC ids and crash notes buffers, its VMCOREINFO note,
 * and the fixed CMA area (cma=SIZE@BASE) that receives the boot window.
 */

#ifndef WARMBOOT_OSKERNEL_H
#define WARMBOOT_OSKERNEL_H

#include <stdint.h>

#include "options.h"

struct os_cpu {
	int has_cpu_id;
	uint64_t cpu_id;	/* APIC id (x86) */
	int has_notes;
	uint64_t notes_addr;
	uint64_t notes_size;
};

struct os_kernel {
	unsigned int cpu_count;	/* possible CPUs: the highest number + 1 */
	struct os_cpu *cpu;
	uint64_t vmcoreinfo_addr;
	uint64_t vmcoreinfo_size;
};

/* Read CPUs, crash notes and VMCOREINFO; prints errors and warnings. */
int os_kernel_read(const struct wb_paths *paths, struct os_kernel *k);
void os_kernel_free(struct os_kernel *k);

/*
 * The fixed CMA area from the kernel command line: cma=SIZE@BASE (or
 * SIZE@BASE-END with END = BASE + SIZE, which the kernel also places at
 * BASE). Prints why not. Returns 0 or -1.
 */
int os_cma_area(const char *cmdline_path, uint64_t *base, uint64_t *size);

#endif /* WARMBOOT_OSKERNEL_H */
