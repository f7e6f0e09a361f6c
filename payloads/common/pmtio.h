/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The PMT as the tools see it: read from the anchor in physical memory,
 * checked with the shared validator (payloads/libpmt), and named for
 * messages. Names match the enums of docs/pmt.md and warmboot.pmt.
 */

#ifndef WARMBOOT_PMTIO_H
#define WARMBOOT_PMTIO_H

#include <stddef.h>
#include <stdint.h>

#include "physmem.h"
#include "pmt_validate.h"

struct wb_table {
	uint64_t addr;
	uint8_t *buf;			/* the bytes read at addr */
	size_t len;
	int reject;			/* pmt_validate() with default limits */
	uint32_t bad_entry;
	struct pmt_header_v1 hdr;	/* meaningful when reject is 0 */
};

/*
 * Read len bytes at addr (the anchor: the table and whatever follows it)
 * and validate them. Returns 0 with t->reject set, or -1 on an I/O error
 * (printed).
 */
int wb_table_read(const struct wb_physmem *mem, uint64_t addr, size_t len,
		  struct wb_table *t);
void wb_table_free(struct wb_table *t);

/* Entry i of a table that validated. */
void wb_table_entry(const struct wb_table *t, uint32_t i, struct pmt_entry_v1 *e);

const char *wb_reject_name(unsigned int reason);
const char *wb_reset_cause_name(unsigned int cause);
const char *wb_entry_type_name(unsigned int type);
const char *wb_entry_status_name(unsigned int status);

/* "ARMED|COPY_DONE|0x100" into buf (at least 96 bytes); returns buf. */
char *wb_flags_str(uint32_t flags, char *buf, size_t len);

/* The IEEE CRC-32 the table's bytes should carry (docs/pmt.md), into it. */
void wb_table_seal(uint8_t *buf);

#endif /* WARMBOOT_PMTIO_H */
