/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Ramstage: reserve what the OS asked to keep, so neither coreboot's payload
 * loader nor the payload kernel touches it, and tell the payload and the OS
 * where the anchor is, what happened to the table and where the boot
 * memory window is.
 */

#include <boot/coreboot_tables.h>
#include <bootmem.h>
#include <cbmem.h>
#include <console/console.h>
#include <string.h>

#include "warmboot.h"
#if CONFIG(WARMBOOT_DT_HANDOFF)
#include "pmt_mailbox.h"
#endif

/*
 * The anchor's table, if romstage acted on it on this boot; *hdr is its
 * judged header. Nothing else runs while ramstage does (the OS is gone,
 * the APs run coreboot's code), so the flags are romstage's of this boot;
 * judging again only guards against firmware's own writes since.
 */
const void *warmboot_accepted_table(struct pmt_header_v1 *hdr)
{
	const struct pmt_header_v1 *anchor = cbmem_find(CBMEM_ID_WARMBOOT_PMT);
	struct warmboot_judge judge;
	struct pmt_decoded dec;

	if (!anchor || !(anchor->flags & PMT_FLAG_ARMED) || !(anchor->flags & PMT_FLAG_COPY_DONE)
	    || (anchor->flags & PMT_FLAG_REJECTED))
		return NULL;
	/* Romstage checked the registration; this judges the same bytes again. */
	warmboot_judge_init(&judge, (uintptr_t)anchor, anchor->arm_cookie);
	if (warmboot_check(anchor, WARMBOOT_TABLE_MAX, (uintptr_t)anchor, &judge, &dec)) {
		printk(BIOS_ERR, "warmboot: PMT changed since romstage; not reserving\n");
		return NULL;
	}
	*hdr = dec.hdr;
	return anchor;
}

/* Device-tree boards reserve in their FIT fixup instead (pmt_dt.c). */
#if !CONFIG(WARMBOOT_DT_HANDOFF)
void bootmem_platform_add_ranges(void)
{
	const uint64_t top = (uintptr_t)cbmem_top();
	struct pmt_header_v1 hdr;
	struct pmt_entry_v1 e;
	const void *table;
	void *cbmem_base;
	size_t cbmem_size;
	uint32_t i;

	/* The band CBMEM may grow into is never the OS's (see Kconfig). */
	cbmem_get_region(&cbmem_base, &cbmem_size);
	if ((uintptr_t)cbmem_base < top - CONFIG_WARMBOOT_CBMEM_BAND)
		printk(BIOS_ERR, "warmboot: CBMEM (%zu KiB) outgrew WARMBOOT_CBMEM_BAND\n",
		       cbmem_size >> 10);
	else if ((uintptr_t)cbmem_base > top - CONFIG_WARMBOOT_CBMEM_BAND)
		bootmem_add_range(top - CONFIG_WARMBOOT_CBMEM_BAND,
				  (uintptr_t)cbmem_base - (top - CONFIG_WARMBOOT_CBMEM_BAND),
				  BM_MEM_RESERVED);

	table = warmboot_accepted_table(&hdr);
	if (!table)
		return;
	for (i = 0; i < hdr.entry_count; i++) {
		pmt_entry_get(table, &hdr, i, &e);
		if (e.type == PMT_ENTRY_PRESERVE && e.base != (uintptr_t)table)
			bootmem_add_range(e.base, e.size, BM_MEM_RESERVED);
		else if (e.type == PMT_ENTRY_BOOT_COPY)
			bootmem_add_range(e.dest, e.size, BM_MEM_RESERVED);
	}
	printk(BIOS_INFO, "warmboot: reserved the preserved regions of PMT generation %llu\n",
	       (unsigned long long)hdr.generation);
}
#endif

void lb_board(struct lb_header *header)
{
	const struct pmt_header_v1 *hdr = cbmem_find(CBMEM_ID_WARMBOOT_PMT);
	struct lb_warmboot_pmt *rec;

	if (!hdr)
		return;
	rec = (struct lb_warmboot_pmt *)lb_new_record(header);
	memset(rec, 0, sizeof(*rec));
	rec->tag = LB_TAG_WARMBOOT_PMT;
	rec->size = sizeof(*rec);
	rec->anchor_addr = (uintptr_t)hdr;
	rec->anchor_size = CONFIG_WARMBOOT_ANCHOR_SIZE;
	rec->boot_window_base = CONFIG_WARMBOOT_BOOT_WINDOW_BASE;
	rec->boot_window_size = CONFIG_WARMBOOT_BOOT_WINDOW_SIZE;
	rec->firmware_low_end = CONFIG_WARMBOOT_FIRMWARE_LOW_END;
	/* Where the OS hands over the arm cookie (pmt_common.c, pmt_mailbox.c). */
#if CONFIG(WARMBOOT_DT_HANDOFF)
	rec->cookie_kind = PMT_COOKIE_MAILBOX;
	rec->cookie_addr = (uintptr_t)warmboot_mailbox();
	rec->cookie_size = PMT_MAILBOX_SIZE;
#else
	rec->cookie_kind = PMT_COOKIE_CMOS;
	rec->cookie_addr = CONFIG_WARMBOOT_CMOS_COOKIE;
	rec->cookie_size = PMT_CMOS_COOKIE_SIZE;
#endif
	rec->reject_entry = PMT_NO_ENTRY;
	if (memcmp(hdr->magic, PMT_MAGIC, PMT_MAGIC_SIZE) != 0)
		return;
	rec->flags = hdr->flags;
	rec->reject_reason = hdr->reject_reason;
	rec->reset_cause = hdr->reset_cause;
	rec->reject_entry = hdr->flags & PMT_FLAG_REJECTED ? hdr->reject_entry : PMT_NO_ENTRY;
	rec->generation = hdr->generation;
}
