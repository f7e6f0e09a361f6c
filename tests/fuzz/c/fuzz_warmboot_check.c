/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer harness: the firmware's own judgement of the anchor's table
 * (coreboot-config/site-local/warmboot/pmt_common.c: warmboot_check() and
 * warmboot_snapshot()), built for the host with qemu-q35's Kconfig values
 * (host/kconfig.h) and the limits SMM judges by.
 *
 * Input: u8 mode, then the anchor's first half. Mode bit 0 reseals the
 * table's CRC; bit 1 puts the anchor where table_addr says (else at
 * 0x3fece000); bit 2 uses the table's own arm_cookie as the registered one.
 * The anchor's first half is a heap buffer of exactly WARMBOOT_TABLE_MAX
 * bytes (the input, then zeros); the snapshot's verdict must equal the
 * in-place one unless the table is too large for SMM's copy, and an accepted table must keep
 * what the SMM handler relies on: CPU_STATE inside the anchor's second
 * half and large enough for cpu_count records.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "warmboot.h"

#define SMM_TABLE_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t copy[SMM_TABLE_MAX];
	struct warmboot_judge judge;
	struct pmt_decoded in_place, snap;
	uintptr_t anchor = 0x3fece000;
	uint8_t mode, *table;
	int a, b;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	if (size > WARMBOOT_TABLE_MAX)
		size = WARMBOOT_TABLE_MAX;
	table = calloc(1, WARMBOOT_TABLE_MAX);
	if (!table)
		return 0;
	memcpy(table, data, size);
	size = WARMBOOT_TABLE_MAX;
	{
		struct pmt_header_v1 h;

		pmt_header_get(table, &h);
		if (mode & 2)
			anchor = (uintptr_t)h.table_addr;
		if ((mode & 1) && h.header_size >= PMT_HEADER_V1_SIZE &&
		    h.entry_size >= PMT_ENTRY_V1_SIZE && h.total_size <= size &&
		    h.total_size >= h.header_size &&
		    (uint64_t)h.header_size + (uint64_t)h.entry_count * h.entry_size <= h.total_size) {
			uint32_t crc = pmt_table_crc(table, &h);

			memcpy(table + PMT_HEADER_OFF_CRC32, &crc, 4);
		}
	}
	warmboot_judge_init_minimal(&judge, mode & 4 ? le64(table + PMT_HEADER_OFF_ARM_COOKIE) : 1);
	a = warmboot_check(table, size, anchor, &judge, &in_place);
	b = warmboot_snapshot(table, anchor, copy, sizeof(copy), &judge, &snap);
	/* The snapshot refuses what does not fit; otherwise it judges alike. */
	if (b != a && !(b == PMT_REJECT_BAD_SIZES &&
			(le64(table + PMT_HEADER_OFF_TOTAL_SIZE) & 0xffffffffu) > SMM_TABLE_MAX))
		abort();
	if (!a) {
		const struct pmt_header_v1 *h = &in_place.hdr;
		const uint64_t half = (uint64_t)anchor + WARMBOOT_TABLE_MAX;

		if (h->table_addr != anchor)
			abort();
		if (h->cpu_state_size &&
		    (h->cpu_state_addr < half ||
		     h->cpu_state_addr - half > WARMBOOT_TABLE_MAX - h->cpu_state_size ||
		     h->cpu_state_size > WARMBOOT_TABLE_MAX ||
		     (uint64_t)h->cpu_count * h->cpu_record_size > h->cpu_state_size))
			abort();
		if (!b && memcmp(&snap.hdr, h, sizeof(*h)))
			abort();
	}
	free(table);
	return 0;
}
