/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * warmboot: the firmware side of the preserved-memory table (PMT).
 * The format is docs/pmt.md; the flow is docs/crashdump.md.
 */

#ifndef WARMBOOT_H
#define WARMBOOT_H

#include <stdint.h>

#include "pmt.h"
#include "pmt_validate.h"

/* CBMEM id of the PMT anchor ("WBPT"). */
#define CBMEM_ID_WARMBOOT_PMT	0x57425054

/* LB_TAG_WARMBOOT_PMT and struct lb_warmboot_pmt come from pmt.h (generated). */

/* The table lives in the anchor's first half, CPU_STATE in its second. */
#define WARMBOOT_TABLE_MAX	(CONFIG_WARMBOOT_ANCHOR_SIZE / 2)
#define WARMBOOT_FW_RANGES	4

/* Firmware ranges and limits used to judge the anchor's table on this boot. */
struct warmboot_judge {
	struct pmt_range fw[WARMBOOT_FW_RANGES];
	struct pmt_limits lim;
};

/* The 64-bit cookie the OS stored in CMOS when it armed; 0 if none. */
uint64_t warmboot_cmos_cookie(void);

/* Fill judge for the anchor at `anchor`, with the registered cookie. */
void warmboot_judge_init(struct warmboot_judge *judge, uintptr_t anchor, uint64_t cookie);

/*
 * Validate the anchor's table: the format rules (pmt_validate) plus what
 * this firmware needs: the table is the anchor, CPU_STATE lies in the
 * anchor's second half, and BOOT_COPY sources lie inside the boot window.
 * Returns 0 or a PMT_REJECT_* reason; *bad_entry names the entry.
 */
int warmboot_check(const void *anchor, const struct warmboot_judge *judge,
		   uint32_t *bad_entry);

/* A short name for a reject reason, for the console. */
const char *warmboot_reason_name(int reason);

#endif /* WARMBOOT_H */
