/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Freestanding validator for the preserved-memory table (PMT) v1.
 *
 * Checks a table's bytes against every rule of docs/pmt.md, in the order
 * given there, and returns the first broken rule as a PMT_REJECT_* code,
 * exactly as python/warmboot/pmt/ does. Needs no libc, no
 * allocation, no globals, no 64-bit division and no unaligned access, so
 * coreboot stages (x86 32/64-bit, SMM) and static LinuxBoot tools can use it.
 */

#ifndef WARMBOOT_PMT_VALIDATE_H
#define WARMBOOT_PMT_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "pmt.h"

/* A physical range [base, base + size); size > 0 and it must not wrap. */
struct pmt_range {
	uint64_t base;
	uint64_t size;
};

/* What the reader accepts beyond the format; NULL means the defaults. */
struct pmt_limits {
	uint32_t max_entries;		/* PMT_DEFAULT_MAX_ENTRIES */
	uint32_t max_cpus;		/* PMT_DEFAULT_MAX_CPUS */
	uint64_t arm_cookie;		/* registered cookie; 0: do not check */
	const struct pmt_range *fw_ranges;	/* memory firmware needs itself */
	uint32_t fw_range_count;
};

/* A validated table: its v1 header fields in host byte order. */
struct pmt_decoded {
	struct pmt_header_v1 hdr;
	uint32_t bad_entry;		/* on reject: offending entry or PMT_NO_ENTRY */
};

/*
 * Validate the table in buf[0, len). Returns PMT_REJECT_NONE (0) or the
 * reason it is rejected. If out is not NULL, out->bad_entry is always set
 * and out->hdr is filled when the table is accepted.
 */
int pmt_validate(const void *buf, size_t len, const struct pmt_limits *lim,
		 struct pmt_decoded *out);

/* Entry `index` of a table pmt_validate() accepted, in host byte order. */
void pmt_entry_get(const void *buf, const struct pmt_header_v1 *hdr, uint32_t index,
		   struct pmt_entry_v1 *entry);

/* The CRC a table with these sizes should carry (buf holds total_size bytes). */
uint32_t pmt_table_crc(const void *buf, const struct pmt_header_v1 *hdr);

/* Read the v1 header fields from buf (at least PMT_HEADER_V1_SIZE bytes). */
void pmt_header_get(const void *buf, struct pmt_header_v1 *hdr);

#endif /* WARMBOOT_PMT_VALIDATE_H */
