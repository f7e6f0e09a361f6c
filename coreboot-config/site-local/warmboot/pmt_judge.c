/* SPDX-License-Identifier: GPL-2.0-only */
/* The limits romstage and ramstage judge the anchor's table by. */

#include <cbmem.h>
#include <commonlib/helpers.h>
#include <stdint.h>

#include "warmboot.h"

__weak uint64_t warmboot_high_ram_size(void)
{
	return 0;
}

void warmboot_judge_init(struct warmboot_judge *judge, uintptr_t anchor, uint64_t cookie)
{
	const uint64_t top = (uintptr_t)cbmem_top();
	const uint64_t band = top - CONFIG_WARMBOOT_CBMEM_BAND;
	const uint64_t anchor_end = (uint64_t)anchor + CONFIG_WARMBOOT_ANCHOR_SIZE;
	uint64_t high;
	uint32_t n;

	warmboot_judge_init_minimal(judge, cookie);
	n = judge->lim.fw_range_count;
	/* CBMEM, except the anchor, which the OS owns. */
	if (anchor > band) {
		judge->fw[n].base = band;
		judge->fw[n++].size = anchor - band;
	}
	if (top > anchor_end) {
		judge->fw[n].base = anchor_end;
		judge->fw[n++].size = top - anchor_end;
	}
	/*
	 * Above the top of low RAM: MMIO, SMRAM's TSEG, flash up to 4 GiB, then
	 * the board's RAM from 4 GiB (the OS's, like low RAM), then nothing
	 * that is RAM.
	 */
	high = warmboot_high_ram_size();
	if (high && top <= 4ULL * GiB) {
		judge->fw[n].base = top;
		judge->fw[n++].size = 4ULL * GiB - top;
		judge->fw[n].base = 4ULL * GiB + high;
		judge->fw[n++].size = (uint64_t)0 - (4ULL * GiB + high);
	} else {
		judge->fw[n].base = top;
		judge->fw[n++].size = (uint64_t)0 - top;
	}

	judge->lim.fw_range_count = n;
}
