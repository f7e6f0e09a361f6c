/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The crash stub: a tiny kexec "crash kernel" that warm-resets the
 * machine. On panic the kernel's own crash path (__crash_kexec) saves every
 * CPU's registers into its crash notes and CRASHTIME into VMCOREINFO, then
 * machine_kexec() jumps to the stub. Firmware then finds the armed table.
 *
 *   x86_64: 10 bytes that write 6 (full reset, keep RAM powered) to the
 *     ICH9 reset control register 0xcf9.
 *   aarch64: entered with the MMU off at EL2 (or EL1), it stores
 *     {"WBRESET!", cookie} in firmware's reset mailbox, which registers the
 *     table (there is no CMOS), then calls PSCI SYSTEM_RESET (0x84000009)
 *     through the kernel's conduit, SMC or HVC; TF-A's BL31 resets the
 *     machine with RAM kept.
 */

#ifndef WARMBOOT_CRASHSTUB_H
#define WARMBOOT_CRASHSTUB_H

#include <stdint.h>

#include "iomem.h"

/* Where the stub goes: the start of "Crash kernel" in /proc/iomem. */
int crashstub_place(const struct iomem *io, const char *iomem_path, uint64_t *addr);

/* What the aarch64 stub does before its reset; unused on x86_64. */
struct crashstub_reset {
	uint64_t mailbox;	/* firmware's reset mailbox (physical) */
	uint64_t cookie;	/* the table's arm_cookie */
	int use_hvc;		/* PSCI conduit: HVC instead of SMC */
};

/* kexec_load(KEXEC_ON_CRASH) the stub at addr; prints the error. */
int crashstub_load(uint64_t addr, const struct crashstub_reset *reset);

/* Unload whatever crash image is loaded (best effort). */
void crashstub_unload(void);

#endif /* WARMBOOT_CRASHSTUB_H */
