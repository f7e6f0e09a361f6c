/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The crash stub: a 10-byte kexec "crash kernel" that warm-resets the
 * machine. On panic the kernel's own crash path (__crash_kexec) saves every
 * CPU's registers into its crash notes and CRASHTIME into VMCOREINFO, then
 * machine_kexec() jumps to the stub, which writes 6 (full reset, keep RAM
 * powered) to the ICH9 reset control register 0xcf9. Firmware then finds the
 * armed table. x86 only for now.
 */

#ifndef WARMBOOT_CRASHSTUB_H
#define WARMBOOT_CRASHSTUB_H

#include <stdint.h>

#include "iomem.h"

/* Where the stub goes: the start of "Crash kernel" in /proc/iomem. */
int crashstub_place(const struct iomem *io, const char *iomem_path, uint64_t *addr);

/* kexec_load(KEXEC_ON_CRASH) the stub at addr; prints the error. */
int crashstub_load(uint64_t addr);

/* Unload whatever crash image is loaded (best effort). */
void crashstub_unload(void);

#endif /* WARMBOOT_CRASHSTUB_H */
