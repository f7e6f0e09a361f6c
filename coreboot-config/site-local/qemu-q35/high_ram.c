/* SPDX-License-Identifier: GPL-2.0-only */

/*
 * QEMU q35 places RAM beyond what fits below its PCI hole (2 GiB when the
 * guest has more than 2.75 GiB) at 4 GiB, and says how much in CMOS; the
 * mainboard reads it the same way for its ramstage memory map.
 */

#include <commonlib/helpers.h>
#include <stdint.h>

#include "warmboot.h"

unsigned long qemu_get_high_memory_size(void);	/* KiB; mainboard's memmap.c */

uint64_t warmboot_high_ram_size(void)
{
	return (uint64_t)qemu_get_high_memory_size() * KiB;
}
