/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Romstage: find the OS's table in the anchor and, after a warm reset with a
 * valid armed table, copy the boot memory window to the OS's destination
 * before postcar, ramstage or the payload reuse it.
 *
 * Nothing can write the anchor while romstage runs: the OS is gone (a warm
 * reset, which also reset the devices that could DMA), only the BSP runs
 * and the APs are not started until ramstage. So romstage judges the table
 * in place; it still takes every value it acts on from the judged header
 * and the judged entries, never from the anchor's header again, as SMM
 * must (wdt_smm.c). What the OS could write beforehand is only what it
 * wrote: firmware-owned status included, which is why none of it decides
 * anything here (below).
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

/*
 * Copy one BOOT_COPY range a block of eight words at a time; the judged
 * table's ranges are whole pages, and a tail would still be copied.
 * memcpy() here is `rep movsl`, which QEMU's TCG runs one element per loop
 * pass: 83 MB/s for the 79 MiB boot window of qemu-q35, most of the warm
 * reset's firmware time, against about 250 MB/s for this loop. On hardware
 * both run at the speed of memory if the ranges are cacheable
 * (docs/crashdump.md).
 */
static void copy_range(void *dest, const void *src, size_t size)
{
	unsigned long *d = dest;
	const unsigned long *s = src;
	const unsigned long *end = s + size / (8 * sizeof(*s)) * 8;

	while (s < end) {
		unsigned long w0 = s[0], w1 = s[1], w2 = s[2], w3 = s[3];
		unsigned long w4 = s[4], w5 = s[5], w6 = s[6], w7 = s[7];

		d[0] = w0; d[1] = w1; d[2] = w2; d[3] = w3;
		d[4] = w4; d[5] = w5; d[6] = w6; d[7] = w7;
		s += 8;
		d += 8;
	}
	memcpy(d, s, size % (8 * sizeof(*s)));	/* none: ranges are whole pages */
}

/* Copy and annotate an accepted table, with its judged header `h`. */
static void copy_boot_memory(void *anchor, const struct pmt_header_v1 *h)
{
	struct pmt_header_v1 *hdr = anchor;
	struct pmt_entry_v1 e;
	struct stopwatch sw;
	uint64_t copied = 0, kept = 0;
	uint32_t i, regions = 0;
	uint8_t *entries = (uint8_t *)anchor + h->header_size;

	stopwatch_init(&sw);
	for (i = 0; i < h->entry_count; i++) {
		struct pmt_entry_v1 *raw = (void *)(entries + i * h->entry_size);

		pmt_entry_get(anchor, h, i, &e);
		if (e.type == PMT_ENTRY_BOOT_COPY) {
			/* Both ranges are in 32-bit RAM: the table was judged. */
			copy_range((void *)(uintptr_t)e.dest, (void *)(uintptr_t)e.base, e.size);
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
	       (unsigned long long)h->generation, (unsigned long long)(copied >> 10),
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
	struct pmt_decoded dec;
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
	/*
	 * REJECTED, reject_reason and reject_entry are this boot's verdict, not
	 * an input: they sit outside the CRC, so the OS can write them. Clear
	 * them and judge: a valid table is never refused because the OS set
	 * REJECTED, and the same bytes get the same verdict on every boot.
	 */
	if (hdr->flags & PMT_FLAG_REJECTED)
		printk(BIOS_INFO, "warmboot: PMT came with REJECTED set; judging it again\n");
	hdr->flags &= ~PMT_FLAG_REJECTED;
	hdr->reject_reason = PMT_REJECT_NONE;
	hdr->reject_entry = PMT_NO_ENTRY;
	warmboot_judge_init(&judge, (uintptr_t)anchor, cookie);
	reason = warmboot_check(anchor, WARMBOOT_TABLE_MAX, (uintptr_t)anchor, &judge, &dec);
	if (reason) {
		reject(hdr, reason, dec.bad_entry);
		return;
	}
	/*
	 * COPY_DONE is the one firmware-owned bit romstage reads back. The OS
	 * can set it too, but that only stops a copy into its own destination;
	 * what firmware copies and reserves still comes from the judged table.
	 */
	if (hdr->flags & PMT_FLAG_COPY_DONE) {
		/* A second reset before the payload captured: the copy stands. */
		printk(BIOS_INFO, "warmboot: PMT generation %llu already copied; "
		       "keeping it (warm reset %u)\n",
		       (unsigned long long)dec.hdr.generation, hdr->boot_count);
		return;
	}
	copy_boot_memory(anchor, &dec.hdr);
}

ROMSTAGE_CBMEM_INIT_HOOK(warmboot_romstage)
