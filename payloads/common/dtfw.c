/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The device-tree backend of wb_firmware_find() (docs/handoff.md, "Device
 * tree binding"): the kernel exposes the tree it booted with as files, one
 * per property, under SYSFS/firmware/devicetree/base (= /proc/device-tree).
 * Cells are big-endian u32s; addresses and sizes take the root's
 * #address-cells and #size-cells (2 and 1 when absent, as the DT spec says).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware.h"
#include "pmt.h"
#include "wbutil.h"

#define DT_BASE "firmware/devicetree/base"
#define DT_PROP_MAX 4096u

struct dt_cells {
	unsigned int address;
	unsigned int size;
};

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_cells(const uint8_t *p, unsigned int cells)
{
	uint64_t v = 0;
	unsigned int i;

	for (i = 0; i < cells; i++)
		v = v << 32 | get_be32(p + 4 * i);
	return v;
}

/* The property's bytes; NULL with errno (ENOENT: no such property). */
static uint8_t *read_prop(const char *sysfs, const char *node, const char *name, size_t *len)
{
	char *path = wb_asprintf("%s/" DT_BASE "%s/%s", sysfs, node, name);
	uint8_t *data = wb_read_file(path, DT_PROP_MAX, len);
	int err = errno;

	free(path);
	errno = err;
	return data;
}

static unsigned int root_cells(const char *sysfs, const char *name, unsigned int dflt)
{
	size_t len;
	uint8_t *data = read_prop(sysfs, "", name, &len);
	unsigned int v = dflt;

	if (data && len == 4 && get_be32(data) >= 1 && get_be32(data) <= 2)
		v = get_be32(data);
	free(data);
	return v;
}

/*
 * /chosen/NAME as <address size>. 1: absent; 0: read; -1: malformed (why).
 */
static int read_pair(const char *sysfs, const struct dt_cells *c, const char *name,
		     uint64_t *a, uint64_t *b, char *why, size_t why_len)
{
	size_t len, want = 4 * (c->address + c->size);
	uint8_t *data = read_prop(sysfs, "/chosen", name, &len);

	if (!data) {
		if (errno == ENOENT)
			return 1;
		snprintf(why, why_len, "cannot read /chosen/%s under %s/" DT_BASE ": %s", name,
			 sysfs, strerror(errno));
		return -1;
	}
	if (len != want) {
		snprintf(why, why_len, "/chosen/%s is %zu bytes, expected <address size> in "
			 "%u+%u cells", name, len, c->address, c->size);
		free(data);
		return -1;
	}
	*a = get_cells(data, c->address);
	*b = get_cells(data + 4 * c->address, c->size);
	free(data);
	return 0;
}

/* The table's generation as firmware left it: the tree does not carry one. */
static uint64_t table_generation(const struct wb_physmem *mem, uint64_t addr)
{
	uint8_t head[PMT_HEADER_OFF_GENERATION + 8];

	if (wb_physmem_read(mem, addr, head, sizeof(head)) ||
	    memcmp(head, PMT_MAGIC, PMT_MAGIC_SIZE))
		return 0;
	return wb_get_le64(head + PMT_HEADER_OFF_GENERATION);
}

int wb_dt_find(const char *sysfs, const struct wb_physmem *mem, struct wb_firmware *fw,
	       char *why, size_t why_len)
{
	struct dt_cells c = { root_cells(sysfs, "#address-cells", 2),
			      root_cells(sysfs, "#size-cells", 1) };
	uint64_t a, b;
	uint8_t *status;
	size_t len;
	int rc;

	memset(fw, 0, sizeof(*fw));
	rc = read_pair(sysfs, &c, PMT_DT_ANCHOR, &a, &b, why, why_len);
	if (rc)
		return rc;
	if (b > UINT32_MAX) {
		snprintf(why, why_len, "/chosen/" PMT_DT_ANCHOR ": size %#llx is too large",
			 (unsigned long long)b);
		return -1;
	}
	fw->anchor_addr = a;
	fw->anchor_size = (uint32_t)b;
	fw->reject_entry = PMT_NO_ENTRY;
	fw->firmware_low_end = PMT_DEFAULT_FIRMWARE_LOW_END;
	rc = read_pair(sysfs, &c, PMT_DT_BOOT_WINDOW, &fw->boot_window_base,
		       &fw->boot_window_size, why, why_len);
	if (rc > 0)
		snprintf(why, why_len, "the device tree has /chosen/" PMT_DT_ANCHOR " but no "
			 PMT_DT_BOOT_WINDOW);
	if (rc)
		return -1;
	rc = read_pair(sysfs, &c, PMT_DT_RESET_MAILBOX, &a, &b, why, why_len);
	if (rc < 0)
		return -1;
	if (!rc && b >= PMT_MAILBOX_SIZE && b <= UINT32_MAX) {
		fw->cookie_kind = PMT_COOKIE_MAILBOX;
		fw->cookie_addr = a;
		fw->cookie_size = (uint32_t)b;
	}
	snprintf(fw->where, sizeof(fw->where), "device tree /chosen (%s)", sysfs);

	/* warmboot,pmt: firmware processed an armed table on this boot. */
	rc = read_pair(sysfs, &c, PMT_DT_PMT, &a, &b, why, why_len);
	if (rc < 0)
		return -1;
	if (rc)
		return 0;
	status = read_prop(sysfs, "/chosen", PMT_DT_PMT_STATUS, &len);
	if (!status || len != PMT_DT_PMT_STATUS_CELLS * 4) {
		snprintf(why, why_len, "/chosen/" PMT_DT_PMT " without a 4-cell " PMT_DT_PMT_STATUS);
		free(status);
		return -1;
	}
	fw->flags = get_be32(status);
	fw->reject_reason = (uint16_t)get_be32(status + 4);
	fw->reset_cause = (uint16_t)get_be32(status + 8);
	fw->reject_entry = get_be32(status + 12);
	free(status);
	fw->generation = table_generation(mem, a);
	return 0;
}

int wb_dt_psci_uses_hvc(const char *sysfs)
{
	size_t len;
	uint8_t *method = read_prop(sysfs, "/psci", "method", &len);
	int hvc = method && len >= 3 && !memcmp(method, "hvc", 3);

	free(method);
	return hvc;
}
