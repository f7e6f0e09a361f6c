/* SPDX-License-Identifier: GPL-2.0-only */

#include <commonlib/helpers.h>
#if CONFIG(ARCH_X86)
#include <pc80/mc146818rtc.h>
#endif
#include <stdint.h>

#include "warmboot.h"

#if CONFIG(ARCH_X86)
uint64_t warmboot_cmos_cookie(void)
{
	uint64_t cookie = 0;
	int i;

	for (i = 7; i >= 0; i--)
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

int warmboot_check(const void *anchor, const struct warmboot_judge *judge,
		   uint32_t *bad_entry)
{
	const uintptr_t addr = (uintptr_t)anchor;
	struct pmt_decoded dec;
	struct pmt_entry_v1 e;
	uint32_t i;
	int reason;

	reason = pmt_validate(anchor, WARMBOOT_TABLE_MAX, &judge->lim, &dec);
	*bad_entry = dec.bad_entry;
	if (reason)
		return reason;
	if (dec.hdr.table_addr != addr)
		return PMT_REJECT_TABLE_OUTSIDE_ENTRY;
	for (i = 0; i < dec.hdr.entry_count; i++) {
		pmt_entry_get(anchor, &dec.hdr, i, &e);
		*bad_entry = i;
		/* Only the anchor's second half may receive registers. */
		if (e.type == PMT_ENTRY_CPU_STATE
		    && !inside(e.base, e.size, addr + WARMBOOT_TABLE_MAX, WARMBOOT_TABLE_MAX))
			return PMT_REJECT_CPU_STATE_FORBIDDEN;
		/* Never copy out of memory firmware owns: only the boot window. */
		if (e.type == PMT_ENTRY_BOOT_COPY
		    && !inside(e.base, e.size, CONFIG_WARMBOOT_BOOT_WINDOW_BASE,
			       CONFIG_WARMBOOT_BOOT_WINDOW_SIZE))
			return PMT_REJECT_BAD_ENTRY;
	}
	*bad_entry = PMT_NO_ENTRY;
	return PMT_REJECT_NONE;
}

const char *warmboot_reason_name(int reason)
{
	static const char *const names[] = {
		"none", "bad magic", "bad version", "bad sizes", "count overflow",
		"bad CRC", "too many entries", "stale (cookie mismatch)", "bad machine",
		"bad cpu count", "bad entry", "zero size", "wrap-around", "unaligned",
		"preserve region in firmware memory", "destination in firmware memory",
		"CPU_STATE in forbidden memory", "metadata mismatch",
		"table outside its TABLE entry", "overlapping entries",
		"copy destination conflict", "metadata outside preserved memory",
	};

	if (reason < 0 || reason >= (int)ARRAY_SIZE(names))
		return "unknown";
	return names[reason];
}
