/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Freestanding PMT v1 validator; see pmt_validate.h and docs/pmt.md.
 *
 * Every field is read byte by byte as little-endian, so the table may sit at
 * any alignment and the host may be of either byte order. Ends of ranges are
 * kept as inclusive "last" addresses, so a range may end exactly at 2^64.
 * Only shifts, adds and compares are used on 64-bit values: 32-bit coreboot
 * stages link without libgcc's 64-bit division helpers.
 */

#include "pmt_validate.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

void pmt_header_get(const void *buf, struct pmt_header_v1 *h)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < PMT_MAGIC_SIZE; i++)
		h->magic[i] = p[PMT_HEADER_OFF_MAGIC + i];
	h->major = rd16(p + PMT_HEADER_OFF_MAJOR);
	h->minor = rd16(p + PMT_HEADER_OFF_MINOR);
	h->header_size = rd32(p + PMT_HEADER_OFF_HEADER_SIZE);
	h->entry_size = rd32(p + PMT_HEADER_OFF_ENTRY_SIZE);
	h->entry_count = rd32(p + PMT_HEADER_OFF_ENTRY_COUNT);
	h->total_size = rd32(p + PMT_HEADER_OFF_TOTAL_SIZE);
	h->crc32 = rd32(p + PMT_HEADER_OFF_CRC32);
	h->generation = rd64(p + PMT_HEADER_OFF_GENERATION);
	h->flags = rd32(p + PMT_HEADER_OFF_FLAGS);
	h->reject_reason = rd16(p + PMT_HEADER_OFF_REJECT_REASON);
	h->reset_cause = rd16(p + PMT_HEADER_OFF_RESET_CAUSE);
	h->reject_entry = rd32(p + PMT_HEADER_OFF_REJECT_ENTRY);
	h->boot_count = rd32(p + PMT_HEADER_OFF_BOOT_COUNT);
	h->fw_reserved = rd64(p + PMT_HEADER_OFF_FW_RESERVED);
	h->e_machine = rd16(p + PMT_HEADER_OFF_E_MACHINE);
	h->cpu_count = rd16(p + PMT_HEADER_OFF_CPU_COUNT);
	h->cpu_record_size = rd32(p + PMT_HEADER_OFF_CPU_RECORD_SIZE);
	h->table_addr = rd64(p + PMT_HEADER_OFF_TABLE_ADDR);
	h->arm_cookie = rd64(p + PMT_HEADER_OFF_ARM_COOKIE);
	h->vmcoreinfo_addr = rd64(p + PMT_HEADER_OFF_VMCOREINFO_ADDR);
	h->vmcoreinfo_size = rd64(p + PMT_HEADER_OFF_VMCOREINFO_SIZE);
	h->cpu_state_addr = rd64(p + PMT_HEADER_OFF_CPU_STATE_ADDR);
	h->cpu_state_size = rd64(p + PMT_HEADER_OFF_CPU_STATE_SIZE);
}

void pmt_entry_get(const void *buf, const struct pmt_header_v1 *h, uint32_t index,
		   struct pmt_entry_v1 *e)
{
	const uint8_t *p = (const uint8_t *)buf + h->header_size +
			   (size_t)index * h->entry_size;

	e->base = rd64(p + PMT_ENTRY_OFF_BASE);
	e->size = rd64(p + PMT_ENTRY_OFF_SIZE);
	e->dest = rd64(p + PMT_ENTRY_OFF_DEST);
	e->type = rd16(p + PMT_ENTRY_OFF_TYPE);
	e->fw_status = rd16(p + PMT_ENTRY_OFF_FW_STATUS);
	e->cpu = rd32(p + PMT_ENTRY_OFF_CPU);
}

/* Bitwise CRC-32 (IEEE, reflected): no table, so nothing lives in .data. */
static uint32_t crc32_byte(uint32_t crc, uint8_t byte)
{
	int k;

	crc ^= byte;
	for (k = 0; k < 8; k++)
		crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
	return crc;
}

static int in_span(size_t pos, size_t start, size_t end)
{
	return pos >= start && pos < end;
}

uint32_t pmt_table_crc(const void *buf, const struct pmt_header_v1 *h)
{
	const uint8_t *p = buf;
	uint32_t crc = 0xffffffffu;
	uint32_t i;
	size_t pos, k, at;

	/* The crc32 field and firmware-owned bytes count as zero. */
	for (pos = 0; pos < h->header_size; pos++) {
		int masked = in_span(pos, PMT_HEADER_OFF_CRC32, PMT_HEADER_OFF_CRC32 + 4) ||
			     in_span(pos, PMT_HEADER_FW_START, PMT_HEADER_FW_END);
		crc = crc32_byte(crc, masked ? 0 : p[pos]);
	}
	at = h->header_size;
	for (i = 0; i < h->entry_count; i++, at += h->entry_size) {
		for (k = 0; k < h->entry_size; k++) {
			int masked = in_span(k, PMT_ENTRY_FW_START, PMT_ENTRY_FW_END);
			crc = crc32_byte(crc, masked ? 0 : p[at + k]);
		}
	}
	for (pos = at; pos < h->total_size; pos++)
		crc = crc32_byte(crc, p[pos]);
	return ~crc;
}

static int is_memory(uint16_t type)
{
	return type == PMT_ENTRY_PRESERVE || type == PMT_ENTRY_BOOT_COPY;
}

static int is_object(uint16_t type)
{
	return type == PMT_ENTRY_CPU_STATE || type == PMT_ENTRY_VMCOREINFO ||
	       type == PMT_ENTRY_CRASH_NOTES || type == PMT_ENTRY_TABLE;
}

static int is_note(uint16_t type)
{
	return type == PMT_ENTRY_VMCOREINFO || type == PMT_ENTRY_CRASH_NOTES;
}

/* Inclusive end; callers have checked size != 0 and that it does not wrap. */
static uint64_t last_of(uint64_t base, uint64_t size)
{
	return base + (size - 1);
}

static int overlaps(uint64_t a_base, uint64_t a_last, uint64_t b_base, uint64_t b_last)
{
	return a_base <= b_last && b_base <= a_last;
}

static int overlaps_firmware(const struct pmt_limits *lim, uint64_t base, uint64_t last)
{
	uint32_t i;

	for (i = 0; i < lim->fw_range_count; i++) {
		const struct pmt_range *r = &lim->fw_ranges[i];
		uint64_t r_last;

		if (r->size == 0)
			continue;
		r_last = last_of(r->base, r->size);
		if (r_last < r->base)
			r_last = ~(uint64_t)0;
		if (overlaps(base, last, r->base, r_last))
			return 1;
	}
	return 0;
}

/* Rules that need only one entry, in the spec's order. */
static int check_entry(const struct pmt_header_v1 *h, const struct pmt_entry_v1 *e,
		       const struct pmt_limits *lim)
{
	uint64_t last, align_mask;

	if (e->type < PMT_ENTRY_PRESERVE || e->type > PMT_ENTRY_TABLE)
		return PMT_REJECT_BAD_ENTRY;
	if ((e->type == PMT_ENTRY_BOOT_COPY) != (e->dest != 0))
		return PMT_REJECT_BAD_ENTRY;
	if (e->type == PMT_ENTRY_CRASH_NOTES && e->cpu >= h->cpu_count)
		return PMT_REJECT_BAD_ENTRY;
	if (e->size == 0)
		return PMT_REJECT_ZERO_SIZE;
	last = last_of(e->base, e->size);
	if (last < e->base)
		return PMT_REJECT_WRAP;
	if (e->dest != 0 && last_of(e->dest, e->size) < e->dest)
		return PMT_REJECT_WRAP;
	align_mask = is_note(e->type) ? PMT_NOTE_ALIGN - 1 : PMT_PAGE_SIZE - 1;
	if ((e->base | e->size | e->dest) & align_mask)
		return PMT_REJECT_UNALIGNED;
	if (e->type == PMT_ENTRY_PRESERVE && overlaps_firmware(lim, e->base, last))
		return PMT_REJECT_PRESERVE_IN_FIRMWARE;
	if (e->type == PMT_ENTRY_BOOT_COPY &&
	    overlaps_firmware(lim, e->dest, last_of(e->dest, e->size)))
		return PMT_REJECT_DEST_IN_FIRMWARE;
	if (e->type == PMT_ENTRY_CPU_STATE && overlaps_firmware(lim, e->base, last))
		return PMT_REJECT_CPU_STATE_FORBIDDEN;
	return PMT_REJECT_NONE;
}

static uint32_t find_first(const void *buf, const struct pmt_header_v1 *h, uint16_t type,
			   struct pmt_entry_v1 *e)
{
	uint32_t i;

	for (i = 0; i < h->entry_count; i++) {
		pmt_entry_get(buf, h, i, e);
		if (e->type == type)
			return i;
	}
	return PMT_NO_ENTRY;
}

/* The header's pointer and the one entry of its type must agree. */
static int check_pointer(const void *buf, const struct pmt_header_v1 *h, uint16_t type,
			 uint64_t addr, uint64_t size, uint32_t *bad)
{
	struct pmt_entry_v1 e;
	uint32_t at = find_first(buf, h, type, &e);

	*bad = at;
	if (size == 0)
		return (addr != 0 || at != PMT_NO_ENTRY) ? PMT_REJECT_METADATA_MISMATCH : 0;
	if (at == PMT_NO_ENTRY || e.base != addr || e.size != size)
		return PMT_REJECT_METADATA_MISMATCH;
	return PMT_REJECT_NONE;
}

static int check_unique_objects(const void *buf, const struct pmt_header_v1 *h, uint32_t *bad)
{
	struct pmt_entry_v1 a, b;
	uint32_t i, j;

	for (j = 0; j < h->entry_count; j++) {
		pmt_entry_get(buf, h, j, &b);
		if (!is_object(b.type))
			continue;
		for (i = 0; i < j; i++) {
			pmt_entry_get(buf, h, i, &a);
			if (a.type == b.type &&
			    (b.type != PMT_ENTRY_CRASH_NOTES || a.cpu == b.cpu)) {
				*bad = j;
				return PMT_REJECT_METADATA_MISMATCH;
			}
		}
	}
	return PMT_REJECT_NONE;
}

static int check_table_entry(const void *buf, const struct pmt_header_v1 *h, uint32_t *bad)
{
	struct pmt_entry_v1 t;
	uint64_t t_last;

	*bad = find_first(buf, h, PMT_ENTRY_TABLE, &t);
	if (*bad == PMT_NO_ENTRY)
		return PMT_REJECT_TABLE_OUTSIDE_ENTRY;
	t_last = last_of(h->table_addr, h->total_size);
	if (t_last < h->table_addr || h->table_addr < t.base ||
	    t_last > last_of(t.base, t.size))
		return PMT_REJECT_TABLE_OUTSIDE_ENTRY;
	return PMT_REJECT_NONE;
}

static int check_overlaps(const void *buf, const struct pmt_header_v1 *h, uint32_t *bad)
{
	struct pmt_entry_v1 a, b;
	uint32_t i, j;

	for (j = 0; j < h->entry_count; j++) {
		pmt_entry_get(buf, h, j, &b);
		for (i = 0; i < j; i++) {
			pmt_entry_get(buf, h, i, &a);
			if (is_memory(a.type) != is_memory(b.type))
				continue;
			if (overlaps(a.base, last_of(a.base, a.size), b.base,
				     last_of(b.base, b.size))) {
				*bad = j;
				return PMT_REJECT_OVERLAP;
			}
		}
	}
	return PMT_REJECT_NONE;
}

static int check_copy_dests(const void *buf, const struct pmt_header_v1 *h, uint32_t *bad)
{
	struct pmt_entry_v1 a, b;
	uint64_t d_last;
	uint32_t i, j;

	for (j = 0; j < h->entry_count; j++) {
		pmt_entry_get(buf, h, j, &b);
		if (b.type != PMT_ENTRY_BOOT_COPY)
			continue;
		d_last = last_of(b.dest, b.size);
		for (i = 0; i < h->entry_count; i++) {
			int hit;

			pmt_entry_get(buf, h, i, &a);
			hit = is_memory(a.type) &&
			      overlaps(b.dest, d_last, a.base, last_of(a.base, a.size));
			if (a.type == PMT_ENTRY_BOOT_COPY && i != j)
				hit = hit || overlaps(b.dest, d_last, a.dest,
						      last_of(a.dest, a.size));
			if (hit) {
				*bad = j;
				return PMT_REJECT_COPY_DEST_CONFLICT;
			}
		}
	}
	return PMT_REJECT_NONE;
}

static int check_containment(const void *buf, const struct pmt_header_v1 *h, uint32_t *bad)
{
	struct pmt_entry_v1 a, b;
	uint32_t i, j;

	for (j = 0; j < h->entry_count; j++) {
		int in_place_only, held = 0;

		pmt_entry_get(buf, h, j, &b);
		if (!is_object(b.type))
			continue;
		/* Firmware writes the table and CPU_STATE in place: no copy. */
		in_place_only = b.type == PMT_ENTRY_TABLE || b.type == PMT_ENTRY_CPU_STATE;
		for (i = 0; i < h->entry_count && !held; i++) {
			pmt_entry_get(buf, h, i, &a);
			if (a.type != PMT_ENTRY_PRESERVE &&
			    (in_place_only || a.type != PMT_ENTRY_BOOT_COPY))
				continue;
			held = a.base <= b.base &&
			       last_of(b.base, b.size) <= last_of(a.base, a.size);
		}
		if (!held) {
			*bad = j;
			if (b.type == PMT_ENTRY_CPU_STATE)
				return PMT_REJECT_CPU_STATE_FORBIDDEN;
			return PMT_REJECT_METADATA_OUTSIDE_PRESERVED;
		}
	}
	return PMT_REJECT_NONE;
}

/* Rules about the table as a whole, in the spec's order. */
static int check_table(const void *buf, const struct pmt_header_v1 *h, uint32_t *bad)
{
	struct pmt_entry_v1 e;
	int rc;

	rc = check_unique_objects(buf, h, bad);
	if (!rc)
		rc = check_pointer(buf, h, PMT_ENTRY_VMCOREINFO, h->vmcoreinfo_addr,
				   h->vmcoreinfo_size, bad);
	if (!rc)
		rc = check_pointer(buf, h, PMT_ENTRY_CPU_STATE, h->cpu_state_addr,
				   h->cpu_state_size, bad);
	if (!rc && h->cpu_state_size != 0 &&
	    h->cpu_state_size < (uint64_t)h->cpu_count * h->cpu_record_size) {
		*bad = find_first(buf, h, PMT_ENTRY_CPU_STATE, &e);
		rc = PMT_REJECT_BAD_SIZES;
	}
	if (!rc)
		rc = check_table_entry(buf, h, bad);
	if (!rc)
		rc = check_overlaps(buf, h, bad);
	if (!rc)
		rc = check_copy_dests(buf, h, bad);
	if (!rc)
		rc = check_containment(buf, h, bad);
	return rc;
}

static int size_ok(uint32_t size, uint32_t minimum)
{
	return size >= minimum && (size & (PMT_SIZE_GRANULE - 1)) == 0;
}

static int reject(struct pmt_decoded *out, int reason, uint32_t entry)
{
	if (out)
		out->bad_entry = entry;
	return reason;
}

int pmt_validate(const void *buf, size_t len, const struct pmt_limits *lim,
		 struct pmt_decoded *out)
{
	const struct pmt_limits defaults = {
		.max_entries = PMT_DEFAULT_MAX_ENTRIES,
		.max_cpus = PMT_DEFAULT_MAX_CPUS,
	};
	const uint8_t *p = buf;
	struct pmt_header_v1 h;
	struct pmt_entry_v1 e;
	uint32_t i, bad = PMT_NO_ENTRY;
	int rc;

	if (!lim)
		lim = &defaults;
	if (len < PMT_MAGIC_SIZE)
		return reject(out, PMT_REJECT_BAD_SIZES, PMT_NO_ENTRY);
	for (i = 0; i < PMT_MAGIC_SIZE; i++)
		if (p[i] != (uint8_t)PMT_MAGIC[i])
			return reject(out, PMT_REJECT_BAD_MAGIC, PMT_NO_ENTRY);
	if (len < PMT_HEADER_OFF_MAJOR + 2)
		return reject(out, PMT_REJECT_BAD_SIZES, PMT_NO_ENTRY);
	if (rd16(p + PMT_HEADER_OFF_MAJOR) != PMT_MAJOR)
		return reject(out, PMT_REJECT_BAD_VERSION, PMT_NO_ENTRY);
	if (len < PMT_HEADER_V1_SIZE)
		return reject(out, PMT_REJECT_BAD_SIZES, PMT_NO_ENTRY);

	pmt_header_get(p, &h);
	if (!size_ok(h.header_size, PMT_HEADER_V1_SIZE) ||
	    !size_ok(h.entry_size, PMT_ENTRY_V1_SIZE) ||
	    !size_ok(h.cpu_record_size, PMT_CPU_RECORD_V1_SIZE) ||
	    h.total_size < h.header_size || (uint64_t)h.total_size > (uint64_t)len)
		return reject(out, PMT_REJECT_BAD_SIZES, PMT_NO_ENTRY);
	if ((uint64_t)h.header_size + (uint64_t)h.entry_count * h.entry_size >
	    h.total_size)
		return reject(out, PMT_REJECT_COUNT_OVERFLOW, PMT_NO_ENTRY);
	if (pmt_table_crc(p, &h) != h.crc32)
		return reject(out, PMT_REJECT_BAD_CRC, PMT_NO_ENTRY);
	if (h.entry_count > lim->max_entries)
		return reject(out, PMT_REJECT_TOO_MANY_ENTRIES, PMT_NO_ENTRY);
	if (lim->arm_cookie != 0 && h.arm_cookie != lim->arm_cookie)
		return reject(out, PMT_REJECT_STALE, PMT_NO_ENTRY);
	if (h.e_machine != PMT_EM_X86_64 && h.e_machine != PMT_EM_AARCH64)
		return reject(out, PMT_REJECT_BAD_MACHINE, PMT_NO_ENTRY);
	if (h.cpu_count == 0 || h.cpu_count > lim->max_cpus)
		return reject(out, PMT_REJECT_BAD_CPU_COUNT, PMT_NO_ENTRY);

	for (i = 0; i < h.entry_count; i++) {
		pmt_entry_get(p, &h, i, &e);
		rc = check_entry(&h, &e, lim);
		if (rc)
			return reject(out, rc, i);
	}
	rc = check_table(p, &h, &bad);
	if (rc)
		return reject(out, rc, bad);

	if (out) {
		out->hdr = h;
		out->bad_entry = PMT_NO_ENTRY;
	}
	return PMT_REJECT_NONE;
}
