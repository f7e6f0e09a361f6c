/* SPDX-License-Identifier: GPL-2.0-only */
/* Reading, checking and naming PMTs; see pmtio.h. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pmt_names.h"
#include "pmtio.h"
#include "wbutil.h"

int wb_table_read(const struct wb_physmem *mem, uint64_t addr, size_t len,
		  struct wb_table *t)
{
	struct pmt_decoded dec;

	memset(t, 0, sizeof(*t));
	t->addr = addr;
	t->len = len;
	t->buf = wb_zalloc(len);
	if (wb_physmem_read_or_err(mem, addr, t->buf, len)) {
		wb_table_free(t);
		return -1;
	}
	t->reject = pmt_validate(t->buf, len, NULL, &dec);
	t->bad_entry = dec.bad_entry;
	if (!t->reject)
		t->hdr = dec.hdr;
	return 0;
}

void wb_table_free(struct wb_table *t)
{
	free(t->buf);
	t->buf = NULL;
}

void wb_table_entry(const struct wb_table *t, uint32_t i, struct pmt_entry_v1 *e)
{
	pmt_entry_get(t->buf, &t->hdr, i, e);
}

void wb_table_seal(uint8_t *buf)
{
	struct pmt_header_v1 hdr;

	pmt_header_get(buf, &hdr);
	wb_put_le32(buf + PMT_HEADER_OFF_CRC32, pmt_table_crc(buf, &hdr));
}

static const char *name_of(const char *const *names, size_t count, unsigned int value)
{
	return value < count && names[value] ? names[value] : "?";
}

const char *wb_reject_name(unsigned int reason)
{
	static const char *const names[] = PMT_REJECT_NAMES;

	_Static_assert(WB_ARRAY_SIZE(names) == PMT_REJECT_METADATA_OUTSIDE_PRESERVED + 1,
		       "a name per reject reason");
	return name_of(names, WB_ARRAY_SIZE(names), reason);
}

const char *wb_reset_cause_name(unsigned int cause)
{
	static const char *const names[] = PMT_RESET_CAUSE_NAMES;

	return name_of(names, WB_ARRAY_SIZE(names), cause);
}

const char *wb_entry_type_name(unsigned int type)
{
	static const char *const names[] = PMT_ENTRY_TYPE_NAMES;

	return name_of(names, WB_ARRAY_SIZE(names), type);
}

const char *wb_entry_status_name(unsigned int status)
{
	static const char *const names[] = PMT_STATUS_NAMES;

	return name_of(names, WB_ARRAY_SIZE(names), status);
}

char *wb_flags_str(uint32_t flags, char *buf, size_t len)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} known[] = {
		{ PMT_FLAG_ARMED, "ARMED" },
		{ PMT_FLAG_WARM_RESET_SEEN, "WARM_RESET_SEEN" },
		{ PMT_FLAG_WDT_FIRED, "WDT_FIRED" },
		{ PMT_FLAG_COPY_DONE, "COPY_DONE" },
		{ PMT_FLAG_REJECTED, "REJECTED" },
	};
	size_t i, at = 0;

	buf[0] = '\0';
	for (i = 0; i < WB_ARRAY_SIZE(known); i++) {
		if (!(flags & known[i].bit))
			continue;
		at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%s", at ? "|" : "",
				       known[i].name);
		flags &= ~known[i].bit;
	}
	if (flags)
		at += (size_t)snprintf(buf + at, at < len ? len - at : 0, "%s%#x", at ? "|" : "",
				       flags);
	if (!at)
		snprintf(buf, len, "0");
	return buf;
}
