/* SPDX-License-Identifier: GPL-2.0-only */
/* The limits romstage and ramstage judge the anchor's table by. */

#include <cbmem.h>
#include <stdint.h>

#include "warmboot.h"

void warmboot_judge_init(struct warmboot_judge *judge, uintptr_t anchor, uint64_t cookie)
{
	const uint64_t top = (uintptr_t)cbmem_top();
	const uint64_t band = top - CONFIG_WARMBOOT_CBMEM_BAND;
	const uint64_t anchor_end = (uint64_t)anchor + CONFIG_WARMBOOT_ANCHOR_SIZE;
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
	/* Above the top of low RAM: MMIO, SMRAM's TSEG, flash. */
	judge->fw[n].base = top;
	judge->fw[n++].size = (uint64_t)0 - top;

	judge->lim.fw_range_count = n;
}
