/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Host harness for the PMT validator agreement test: reads cases from stdin
 * and prints one line per case. A case is, little-endian:
 *   u32 max_entries, u32 max_cpus, u64 arm_cookie, u32 range_count,
 *   range_count * (u64 base, u64 size), u32 length, length bytes of table.
 * Output: "REJECT <reason> <bad_entry>" or "OK <header fields> | <entry> ...".
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "pmt_validate.h"

static int read_exact(void *buf, size_t n)
{
	return n == 0 || fread(buf, 1, n, stdin) == n;
}

static int read_u32(uint32_t *v)
{
	uint8_t b[4];

	if (!read_exact(b, 4))
		return 0;
	*v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
	return 1;
}

static int read_u64(uint64_t *v)
{
	uint32_t lo, hi;

	if (!read_u32(&lo) || !read_u32(&hi))
		return 0;
	*v = (uint64_t)hi << 32 | lo;
	return 1;
}

static void die(const char *what)
{
	fprintf(stderr, "pmt_harness: %s\n", what);
	exit(2);
}

int main(void)
{
	uint32_t range_count, length, i;
	struct pmt_limits lim;
	struct pmt_range *ranges;
	struct pmt_decoded d;
	uint8_t *table;
	int rc;

	while (read_u32(&lim.max_entries)) {
		if (!read_u32(&lim.max_cpus) || !read_u64(&lim.arm_cookie) ||
		    !read_u32(&range_count))
			die("truncated case header");
		ranges = calloc(range_count + 1, sizeof(*ranges));
		if (!ranges)
			die("out of memory");
		for (i = 0; i < range_count; i++)
			if (!read_u64(&ranges[i].base) || !read_u64(&ranges[i].size))
				die("truncated range");
		lim.fw_ranges = ranges;
		lim.fw_range_count = range_count;
		if (!read_u32(&length))
			die("truncated length");
		/* Exactly `length` bytes, so reading past the table faults under ASan. */
		table = malloc(length ? length : 1);
		if (!table || !read_exact(table, length))
			die("truncated table");

		rc = pmt_validate(table, length, &lim, &d);
		if (rc) {
			printf("REJECT %d %" PRIu32 "\n", rc, d.bad_entry);
		} else {
			const struct pmt_header_v1 *h = &d.hdr;
			struct pmt_entry_v1 e;
			const uint64_t fields[] = {
				h->major, h->minor, h->header_size, h->entry_size,
				h->entry_count, h->total_size, h->crc32, h->generation,
				h->flags, h->reject_reason, h->reset_cause, h->reject_entry,
				h->boot_count, h->fw_reserved, h->e_machine, h->cpu_count,
				h->cpu_record_size, h->table_addr, h->arm_cookie,
				h->vmcoreinfo_addr, h->vmcoreinfo_size, h->cpu_state_addr,
				h->cpu_state_size,
			};
			size_t k;

			printf("OK");
			for (k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
				printf(" %" PRIx64, fields[k]);
			for (i = 0; i < h->entry_count; i++) {
				pmt_entry_get(table, h, i, &e);
				printf(" | %" PRIx64 " %" PRIx64 " %" PRIx64 " %x %x %" PRIx32,
				       e.base, e.size, e.dest, e.type, e.fw_status,
				       e.cpu);
			}
			printf("\n");
		}
		free(table);
		free(ranges);
	}
	return 0;
}
