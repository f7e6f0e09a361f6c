/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Romstage: find the OS's table in the anchor and, after a warm reset with a
 * valid armed table, copy the boot memory window to the OS's destination
 * before postcar, ramstage or the payload reuse it.
 */

#include <cbmem.h>
#include <console/console.h>
#include <string.h>
#include <timer.h>
#if CONFIG(SOUTHBRIDGE_INTEL_COMMON_PMBASE)
#include <southbridge/intel/common/pmbase.h>
#endif

#include "warmboot.h"

static void reject(struct pmt_header_v1 *hdr, int reason, uint32_t bad_entry)
{
	hdr->flags |= PMT_FLAG_REJECTED;
	hdr->reject_reason = reason;
	hdr->reject_entry = bad_entry;
	printk(BIOS_WARNING, "warmboot: PMT rejected: %s (entry %d); booting normally\n",
	       warmboot_reason_name(reason), bad_entry == PMT_NO_ENTRY ? -1 : (int)bad_entry);
}

static void copy_boot_memory(void *anchor, struct pmt_header_v1 *hdr)
{
	struct pmt_entry_v1 e;
	struct stopwatch sw;
	uint64_t copied = 0, kept = 0;
	uint32_t i, regions = 0;
	uint8_t *entries = (uint8_t *)anchor + hdr->header_size;

	stopwatch_init(&sw);
	for (i = 0; i < hdr->entry_count; i++) {
		struct pmt_entry_v1 *raw = (void *)(entries + i * hdr->entry_size);

		pmt_entry_get(anchor, hdr, i, &e);
		if (e.type == PMT_ENTRY_BOOT_COPY) {
			/* Both ranges are in 32-bit RAM: the table was judged. */
			memcpy((void *)(uintptr_t)e.dest, (void *)(uintptr_t)e.base, e.size);
			raw->fw_status = PMT_STATUS_COPIED;
			copied += e.size;
			regions++;
		} else if (e.type == PMT_ENTRY_PRESERVE) {
			raw->fw_status = PMT_STATUS_PRESERVED;
			kept += e.size;
			regions++;
		}
	}
	hdr->flags |= PMT_FLAG_WARM_RESET_SEEN | PMT_FLAG_COPY_DONE;
	printk(BIOS_INFO, "warmboot: PMT generation %llu accepted: copied %llu KiB of boot "
	       "memory in %lld us, preserving %u regions (%llu MiB)\n",
	       (unsigned long long)hdr->generation, (unsigned long long)(copied >> 10),
	       (long long)stopwatch_duration_usecs(&sw), regions,
	       (unsigned long long)((copied + kept) >> 20));
}

/* Did the TCO watchdog cause this reset? Read before coreboot clears it. */
static int watchdog_reset(const struct pmt_header_v1 *hdr)
{
	if (hdr->flags & PMT_FLAG_WDT_FIRED)
		return 1;	/* the SMM handler saved the CPUs, then reset */
#if CONFIG(SOUTHBRIDGE_INTEL_COMMON_PMBASE)
	/* The second timeout reset the machine (TCO2_STS.SECOND_TO_STS). */
	if (read_pmbase16(0x66) & (1 << 1))
		return 1;
#endif
	return 0;
}

static void warmboot_romstage(int is_recovery)
{
	struct warmboot_judge judge;
	struct pmt_header_v1 *hdr;
	uint32_t bad_entry;
	uint64_t cookie;
	void *anchor;
	int reason;

	if (is_recovery)
		return;	/* S3 resume keeps all memory; there is nothing to do */

	/* Re-created at the same address on every non-S3 boot, not cleared. */
	anchor = cbmem_add(CBMEM_ID_WARMBOOT_PMT, CONFIG_WARMBOOT_ANCHOR_SIZE);
	if (!anchor) {
		printk(BIOS_ERR, "warmboot: cannot allocate the PMT anchor\n");
		return;
	}
	hdr = anchor;
	cookie = warmboot_cmos_cookie();
	printk(BIOS_INFO, "warmboot: PMT anchor at %p\n", anchor);

	if (memcmp(hdr->magic, PMT_MAGIC, PMT_MAGIC_SIZE) != 0
	    || !(hdr->flags & PMT_FLAG_ARMED) || cookie == 0) {
		/*
		 * No armed registration survives a power cycle: the cookie lives
		 * in CMOS the OS sets when it arms. A table without it is stale
		 * (DRAM can keep it across a short power loss): forget it.
		 */
		if (memcmp(hdr->magic, PMT_MAGIC, PMT_MAGIC_SIZE) == 0
		    && (hdr->flags & PMT_FLAG_ARMED))
			printk(BIOS_INFO, "warmboot: armed PMT without a registration "
			       "(cold boot): cleared, not acted on\n");
		memset(anchor, 0, CONFIG_WARMBOOT_ANCHOR_SIZE);
		return;
	}

	hdr->boot_count++;
	hdr->reset_cause = watchdog_reset(hdr) ? PMT_RESET_WATCHDOG : PMT_RESET_WARM_RESET;
	warmboot_judge_init(&judge, (uintptr_t)anchor, cookie);
	reason = warmboot_check(anchor, &judge, &bad_entry);
	if (reason) {
		reject(hdr, reason, bad_entry);
		return;
	}
	if (hdr->flags & PMT_FLAG_COPY_DONE) {
		/* A second reset before the payload captured: the copy stands. */
		printk(BIOS_INFO, "warmboot: PMT generation %llu already copied; "
		       "keeping it (warm reset %u)\n",
		       (unsigned long long)hdr->generation, hdr->boot_count);
		return;
	}
	copy_boot_memory(anchor, hdr);
}

ROMSTAGE_CBMEM_INIT_HOOK(warmboot_romstage)
