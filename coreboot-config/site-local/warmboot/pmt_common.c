/* SPDX-License-Identifier: GPL-2.0-only */

#include <commonlib/helpers.h>
#if CONFIG(ARCH_X86)
#include <pc80/mc146818rtc.h>
#endif
#include <stddef.h>
#include <stdint.h>

#include "pmt_names.h"
#include "warmboot.h"

#if CONFIG(ARCH_X86)
uint64_t warmboot_cmos_cookie(void)
{
	uint64_t cookie = 0;
	int i;

	for (i = PMT_CMOS_COOKIE_SIZE - 1; i >= 0; i--)
		cookie = (cookie << 8) | cmos_read(CONFIG_WARMBOOT_CMOS_COOKIE + i);
	return cookie;
}
#endif	/* arm64: pmt_mailbox.c */

void warmboot_judge_init_minimal(struct warmboot_judge *judge, uint64_t cookie)
{
	uint32_t n = 0;

	/* Low memory and the boot window: firmware and the payload reuse them. */
	judge->fw[n].base = 0;
	judge->fw[n++].size = CONFIG_WARMBOOT_FIRMWARE_LOW_END;
	if (CONFIG_WARMBOOT_FIRMWARE_LOW_END == CONFIG_WARMBOOT_BOOT_WINDOW_BASE) {
		judge->fw[n - 1].size += CONFIG_WARMBOOT_BOOT_WINDOW_SIZE;
	} else {
		judge->fw[n].base = CONFIG_WARMBOOT_BOOT_WINDOW_BASE;
		judge->fw[n++].size = CONFIG_WARMBOOT_BOOT_WINDOW_SIZE;
	}
	/* Memory the stages before the copy use (aarch64 qemu-virt; see Kconfig). */
	if (CONFIG_WARMBOOT_FIRMWARE_RESERVED_SIZE) {
		judge->fw[n].base = CONFIG_WARMBOOT_FIRMWARE_RESERVED_BASE;
		judge->fw[n++].size = CONFIG_WARMBOOT_FIRMWARE_RESERVED_SIZE;
	}
	judge->lim.max_entries = PMT_DEFAULT_MAX_ENTRIES;
	judge->lim.max_cpus = PMT_DEFAULT_MAX_CPUS;
	judge->lim.arm_cookie = cookie;
	judge->lim.fw_ranges = judge->fw;
	judge->lim.fw_range_count = n;
}

static int inside(uint64_t base, uint64_t size, uint64_t outer, uint64_t outer_size)
{
	return base >= outer && size <= outer_size && base - outer <= outer_size - size;
}

int warmboot_check(const void *table, size_t len, uintptr_t anchor,
		   const struct warmboot_judge *judge, struct pmt_decoded *dec)
{
	struct pmt_entry_v1 e;
	uint32_t i;
	int reason;

	reason = pmt_validate(table, len, &judge->lim, dec);
	if (reason)
		return reason;
	if (dec->hdr.table_addr != anchor)
		return PMT_REJECT_TABLE_OUTSIDE_ENTRY;
	for (i = 0; i < dec->hdr.entry_count; i++) {
		pmt_entry_get(table, &dec->hdr, i, &e);
		dec->bad_entry = i;
		/* Only the anchor's second half may receive registers. */
		if (e.type == PMT_ENTRY_CPU_STATE
		    && !inside(e.base, e.size, (uint64_t)anchor + WARMBOOT_TABLE_MAX,
			       WARMBOOT_TABLE_MAX))
			return PMT_REJECT_CPU_STATE_FORBIDDEN;
		/* Never copy out of memory firmware owns: only the boot window. */
		if (e.type == PMT_ENTRY_BOOT_COPY
		    && !inside(e.base, e.size, CONFIG_WARMBOOT_BOOT_WINDOW_BASE,
			       CONFIG_WARMBOOT_BOOT_WINDOW_SIZE))
			return PMT_REJECT_BAD_ENTRY;
		/* RAM above 4 GiB is the OS's, but out of romstage's copy. */
		if (e.type == PMT_ENTRY_BOOT_COPY && e.dest + e.size > WARMBOOT_COPY_LIMIT)
			return PMT_REJECT_DEST_IN_FIRMWARE;
	}
	dec->bad_entry = PMT_NO_ENTRY;
	return PMT_REJECT_NONE;
}

int warmboot_snapshot(const volatile void *anchor_mem, uintptr_t anchor, uint8_t *buf,
		      size_t room, const struct warmboot_judge *judge, struct pmt_decoded *dec)
{
	const volatile uint8_t *src = anchor_mem;
	uint32_t total;
	size_t i;

	dec->bad_entry = PMT_NO_ENTRY;
	if (room < PMT_HEADER_V1_SIZE)
		return PMT_REJECT_BAD_SIZES;
	for (i = 0; i < PMT_HEADER_V1_SIZE; i++)
		buf[i] = src[i];
	/* The length comes from the copy, and each byte is read once. */
	total = (uint32_t)buf[PMT_HEADER_OFF_TOTAL_SIZE]
		| (uint32_t)buf[PMT_HEADER_OFF_TOTAL_SIZE + 1] << 8
		| (uint32_t)buf[PMT_HEADER_OFF_TOTAL_SIZE + 2] << 16
		| (uint32_t)buf[PMT_HEADER_OFF_TOTAL_SIZE + 3] << 24;
	if (total > room || total > WARMBOOT_TABLE_MAX)
		return PMT_REJECT_BAD_SIZES;
	for (; i < total; i++)
		buf[i] = src[i];
	return warmboot_check(buf, i, anchor, judge, dec);
}

const char *warmboot_reason_name(int reason)
{
	static const char *const names[] = PMT_REJECT_TEXTS;

	if (reason < 0 || reason >= (int)ARRAY_SIZE(names))
		return "unknown";
	return names[reason];
}
