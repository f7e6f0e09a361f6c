/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer harness: the PMT validator (payloads/libpmt/pmt_validate.c).
 *
 * Input: u8 mode, then (mode bits 2-4, at most 6) firmware ranges of
 * u64 base + u64 size, then (mode bit 1) a u64 arm cookie, then the table.
 * Mode bit 0 reseals the table (writes the CRC it should carry) when its
 * sizes allow, so that mutations get past the CRC to the later rules.
 * The table sits in a buffer of exactly its length, so that any read past
 * it faults under ASan. An accepted table must keep the promises callers
 * rely on (docs/pmt.md); a broken promise aborts.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pmt_validate.h"

static uint64_t take64(const uint8_t **p, size_t *left)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8 && *left; i++, (*p)++, (*left)--)
		v |= (uint64_t)**p << (8 * i);
	return v;
}

static void reseal(uint8_t *t, size_t len)
{
	struct pmt_header_v1 h;
	uint32_t crc;

	if (len < PMT_HEADER_V1_SIZE)
		return;
	pmt_header_get(t, &h);
	/* pmt_table_crc() trusts the sizes pmt_validate() checks before it. */
	if (h.header_size < PMT_HEADER_V1_SIZE || h.entry_size < PMT_ENTRY_V1_SIZE ||
	    h.total_size > len ||
	    h.total_size < h.header_size ||
	    (uint64_t)h.header_size + (uint64_t)h.entry_count * h.entry_size > h.total_size)
		return;
	crc = pmt_table_crc(t, &h);
	memcpy(t + PMT_HEADER_OFF_CRC32, &crc, 4);	/* the harness runs little-endian */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pmt_range ranges[6];
	struct pmt_limits lim = { PMT_DEFAULT_MAX_ENTRIES, PMT_DEFAULT_MAX_CPUS, 0, ranges, 0 };
	struct pmt_decoded d;
	struct pmt_entry_v1 e;
	uint8_t mode, *table;
	uint32_t i, n;
	int rc;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	n = (mode >> 2) & 7;
	lim.fw_range_count = n > 6 ? 6 : n;
	for (i = 0; i < lim.fw_range_count; i++) {
		ranges[i].base = take64(&data, &size);
		ranges[i].size = take64(&data, &size);
	}
	if (mode & 2)
		lim.arm_cookie = take64(&data, &size);
	if (mode & 0x20)
		lim.max_entries = 8;
	table = malloc(size ? size : 1);
	if (!table)
		return 0;
	memcpy(table, data, size);
	if (mode & 1)
		reseal(table, size);

	rc = pmt_validate(table, size, &lim, &d);
	if (rc < 0 || rc > PMT_REJECT_METADATA_OUTSIDE_PRESERVED)
		abort();
	if (rc == 0) {
		const struct pmt_header_v1 *h = &d.hdr;

		if (d.bad_entry != PMT_NO_ENTRY || h->total_size > size ||
		    (uint64_t)h->header_size + (uint64_t)h->entry_count * h->entry_size >
		    h->total_size || h->entry_count > lim.max_entries || h->cpu_count == 0 ||
		    (h->cpu_state_size &&
		     h->cpu_state_size < (uint64_t)h->cpu_count * h->cpu_record_size))
			abort();
		for (i = 0; i < h->entry_count; i++) {
			pmt_entry_get(table, h, i, &e);
			if (e.size == 0 || e.base + (e.size - 1) < e.base)
				abort();
		}
		/* Deterministic: the same bytes get the same verdict. */
		if (pmt_validate(table, size, &lim, NULL) != 0)
			abort();
	} else if (d.bad_entry != PMT_NO_ENTRY && size >= PMT_HEADER_V1_SIZE) {
		struct pmt_header_v1 h;

		pmt_header_get(table, &h);
		if (d.bad_entry >= h.entry_count)
			abort();
	}
	free(table);
	return 0;
}
