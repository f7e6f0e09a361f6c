/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * coreboot tables: find the LBIO table the way payloads do on x86, verify
 * both IP checksums, follow LB_TAG_FORWARD, and read LB_TAG_WARMBOOT_PMT and
 * LB_TAG_MEMORY. Mirrors python/warmboot/handoff/cbtable.py; records are
 * read byte by byte since coreboot packs them with 4-byte alignment.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware.h"
#include "pmt.h"
#include "wbutil.h"

#define LB_HEADER_SIZE 24u
#define LB_RECORD_HEADER_SIZE 8u
#define LB_MEMORY_RANGE_SIZE 20u
#define LB_MAX_TABLE_BYTES (1u << 20)
#define LB_MAX_FORWARDS 4

/* Where x86 firmware leaves the table (or a forwarding table). */
static const struct {
	uint64_t start;
	size_t size;
} search_windows[] = {
	{ 0x0, 0x1000 },
	{ 0xf0000, 0x10000 },
};

struct cbtable {
	uint64_t addr;
	int has_forward;
	uint64_t forward;
	int has_pmt;
};

/* coreboot's compute_ip_checksum(): little-endian 16-bit words, odd byte low. */
static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += wb_get_le16(p + i);
	if (len & 1)
		sum += p[len - 1];
	while (sum > 0xffff)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void parse_pmt_record(const uint8_t *r, uint32_t size, struct wb_firmware *fw)
{
	fw->anchor_addr = wb_get_le64(r + LB_WARMBOOT_PMT_OFF_ANCHOR_ADDR);
	fw->anchor_size = wb_get_le32(r + LB_WARMBOOT_PMT_OFF_ANCHOR_SIZE);
	fw->flags = wb_get_le32(r + LB_WARMBOOT_PMT_OFF_FLAGS);
	fw->reject_reason = wb_get_le16(r + LB_WARMBOOT_PMT_OFF_REJECT_REASON);
	fw->reset_cause = wb_get_le16(r + LB_WARMBOOT_PMT_OFF_RESET_CAUSE);
	fw->reject_entry = wb_get_le32(r + LB_WARMBOOT_PMT_OFF_REJECT_ENTRY);
	fw->generation = wb_get_le64(r + LB_WARMBOOT_PMT_OFF_GENERATION);
	fw->boot_window_base = wb_get_le64(r + LB_WARMBOOT_PMT_OFF_BOOT_WINDOW_BASE);
	fw->boot_window_size = wb_get_le64(r + LB_WARMBOOT_PMT_OFF_BOOT_WINDOW_SIZE);
	fw->firmware_low_end = PMT_DEFAULT_FIRMWARE_LOW_END;
	if (size < LB_WARMBOOT_PMT_V1_SIZE)
		return;	/* layout 1: where the cookie goes is not said */
	fw->cookie_addr = wb_get_le64(r + LB_WARMBOOT_PMT_OFF_COOKIE_ADDR);
	fw->cookie_kind = wb_get_le32(r + LB_WARMBOOT_PMT_OFF_COOKIE_KIND);
	fw->cookie_size = wb_get_le32(r + LB_WARMBOOT_PMT_OFF_COOKIE_SIZE);
	fw->firmware_low_end = wb_get_le64(r + LB_WARMBOOT_PMT_OFF_FIRMWARE_LOW_END);
}

static void parse_memory(const uint8_t *r, uint32_t size, struct wb_firmware *fw)
{
	uint32_t off;

	for (off = LB_RECORD_HEADER_SIZE; off + LB_MEMORY_RANGE_SIZE <= size;
	     off += LB_MEMORY_RANGE_SIZE) {
		struct wb_fw_mem_range *m;

		if (fw->mem_count == WB_MAX_FW_MEM_RANGES) {
			fw->mem_truncated = 1;
			return;
		}
		m = &fw->mem[fw->mem_count++];
		m->start = wb_get_le64(r + off);
		m->size = wb_get_le64(r + off + 8);
		m->type = wb_get_le32(r + off + 16);
	}
}

/* Read and check the table at addr; record what it holds into t and fw. */
static int read_table(const struct wb_physmem *mem, uint64_t addr, struct cbtable *t,
		      struct wb_firmware *fw, char *why, size_t why_len)
{
	uint8_t head[LB_HEADER_SIZE], zeroed[LB_HEADER_SIZE];
	uint32_t table_bytes, entries, index, off = 0;
	uint8_t *body;

	memset(t, 0, sizeof(*t));
	t->addr = addr;
	if (wb_physmem_read(mem, addr, head, sizeof(head))) {
		snprintf(why, why_len, "cannot read a coreboot table header at %#llx: %s",
			 (unsigned long long)addr, wb_io_error());
		return -1;
	}
	if (memcmp(head, "LBIO", 4)) {
		snprintf(why, why_len, "no LBIO signature at %#llx", (unsigned long long)addr);
		return -1;
	}
	if (wb_get_le32(head + 4) != LB_HEADER_SIZE) {
		snprintf(why, why_len, "coreboot table at %#llx: header_bytes is %u, expected %u",
			 (unsigned long long)addr, wb_get_le32(head + 4), LB_HEADER_SIZE);
		return -1;
	}
	memcpy(zeroed, head, sizeof(head));
	memset(zeroed + 8, 0, 4);
	if (ip_checksum(zeroed, sizeof(zeroed)) != wb_get_le32(head + 8)) {
		snprintf(why, why_len, "coreboot table at %#llx: header checksum mismatch",
			 (unsigned long long)addr);
		return -1;
	}
	table_bytes = wb_get_le32(head + 12);
	entries = wb_get_le32(head + 20);
	if (table_bytes > LB_MAX_TABLE_BYTES) {
		snprintf(why, why_len, "coreboot table at %#llx claims %u bytes of records",
			 (unsigned long long)addr, table_bytes);
		return -1;
	}
	body = wb_zalloc(table_bytes);
	if (wb_physmem_read(mem, addr + LB_HEADER_SIZE, body, table_bytes)) {
		snprintf(why, why_len, "cannot read the coreboot table at %#llx: %s",
			 (unsigned long long)addr, wb_io_error());
		goto fail;
	}
	if (ip_checksum(body, table_bytes) != wb_get_le32(head + 16)) {
		snprintf(why, why_len, "coreboot table at %#llx: table checksum mismatch",
			 (unsigned long long)addr);
		goto fail;
	}
	for (index = 0; index < entries; index++) {
		const uint8_t *r = body + off;
		uint32_t tag, size;

		if (off >= table_bytes || table_bytes - off < LB_RECORD_HEADER_SIZE) {
			snprintf(why, why_len,
				 "coreboot table at %#llx: record %u of %u starts past its %u bytes",
				 (unsigned long long)addr, index, entries, table_bytes);
			goto fail;
		}
		tag = wb_get_le32(r);
		size = wb_get_le32(r + 4);
		if (size < LB_RECORD_HEADER_SIZE || size > table_bytes - off) {
			snprintf(why, why_len,
				 "coreboot table at %#llx: record tag %#x has bad size %u",
				 (unsigned long long)addr, tag, size);
			goto fail;
		}
		if (tag == WB_LB_TAG_FORWARD && size >= 16 && !t->has_forward) {
			t->has_forward = 1;
			t->forward = wb_get_le64(r + 8);
		} else if (tag == LB_TAG_WARMBOOT_PMT && !t->has_pmt) {
			if (size < LB_WARMBOOT_PMT_LAYOUT1_SIZE) {
				snprintf(why, why_len,
					 "coreboot table at %#llx: LB_TAG_WARMBOOT_PMT is %u bytes, needs %u",
					 (unsigned long long)addr, size, LB_WARMBOOT_PMT_LAYOUT1_SIZE);
				goto fail;
			}
			t->has_pmt = 1;
			parse_pmt_record(r, size, fw);
		} else if (tag == WB_LB_TAG_MEMORY) {
			parse_memory(r, size, fw);
		}
		off += size;
	}
	free(body);
	return 0;
fail:
	free(body);
	return -1;
}

/* The first valid table on a 16-byte boundary in the search windows. */
static int find_first_table(const struct wb_physmem *mem, struct cbtable *t,
			    struct wb_firmware *fw, char *why, size_t why_len)
{
	char problem[160] = "";
	size_t w, off;

	for (w = 0; w < WB_ARRAY_SIZE(search_windows); w++) {
		size_t size = search_windows[w].size;
		uint8_t *window = wb_zalloc(size);

		if (wb_physmem_read(mem, search_windows[w].start, window, size)) {
			snprintf(problem, sizeof(problem), "cannot read %#llx+%#zx: %s",
				 (unsigned long long)search_windows[w].start, size,
				 wb_io_error());
			free(window);
			continue;
		}
		for (off = 0; off + 4 <= size; off += 16) {
			if (memcmp(window + off, "LBIO", 4))
				continue;
			memset(fw, 0, sizeof(*fw));
			if (!read_table(mem, search_windows[w].start + off, t, fw, problem,
					sizeof(problem))) {
				free(window);
				return 0;
			}
		}
		free(window);
	}
	snprintf(why, why_len, "no valid coreboot table in [0, 0x1000) or [0xf0000, 0x100000) of "
		 "%s%s%s", mem->path, *problem ? ": " : "", problem);
	return -1;
}

int wb_cbtable_find(const struct wb_physmem *mem, struct wb_firmware *fw, char *why,
		    size_t why_len)
{
	struct cbtable t;
	int hops = 0;

	if (find_first_table(mem, &t, fw, why, why_len))
		return -1;
	while (t.has_forward) {
		if (++hops > LB_MAX_FORWARDS) {
			snprintf(why, why_len, "coreboot tables forward more than %d times",
				 LB_MAX_FORWARDS);
			return -1;
		}
		/* The forwarded table is the real one: forget the stub's records. */
		memset(fw, 0, sizeof(*fw));
		if (read_table(mem, t.forward, &t, fw, why, why_len))
			return -1;
	}
	if (!t.has_pmt) {
		snprintf(why, why_len,
			 "the coreboot table at %#llx has no LB_TAG_WARMBOOT_PMT record: "
			 "this firmware does not preserve memory for crash dumps",
			 (unsigned long long)t.addr);
		return -1;
	}
	snprintf(fw->where, sizeof(fw->where), "coreboot table at %#llx",
		 (unsigned long long)t.addr);
	return 0;
}
