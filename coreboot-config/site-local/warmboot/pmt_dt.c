/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Ramstage on device-tree boards (aarch64): hand the PMT over in the tree
 * coreboot passes to a FIT payload (docs/handoff.md, "Device tree binding"),
 * and keep coreboot's own payload loader off the memory the OS asked to
 * keep. The fixup runs in fit_payload() before the kernel, initramfs and
 * tree are placed, so the bootmem ranges added here steer that placement.
 *
 *   /chosen/warmboot,anchor         <addr size>  every boot
 *   /chosen/warmboot,boot-window    <base size>  every boot
 *   /chosen/warmboot,reset-mailbox  <addr size>  every boot (the arm cookie)
 *   /chosen/warmboot,pmt            <addr size>  firmware processed an armed table
 *   /chosen/warmboot,pmt-status     <flags reject_reason reset_cause reject_entry>
 *   /reserved-memory/warmboot-preserved@BASE, warmboot-boot-copy@DEST,
 *     warmboot-pmt@ADDR             an accepted (or rejected) table's memory
 *   /reserved-memory/warmboot-firmware@BASE (no-map)  firmware's own memory
 */

#include <bootmem.h>
#include <bootstate.h>
#include <cbmem.h>
#include <commonlib/helpers.h>
#include <commonlib/stdlib.h>
#include <console/console.h>
#include <device_tree.h>
#include <list.h>
#include <stdio.h>
#include <string.h>
#include <symbols.h>

#include "pmt_mailbox.h"
#include "warmboot.h"

struct region {
	const char *kind;
	uint64_t base;
	uint64_t size;
	uint64_t copy_of;	/* BOOT_COPY: the crashed kernel's address; else 0 */
	int has_copy_of;
};

static void *cells(uint64_t value, u32 count)
{
	u8 *data = xmalloc(count * sizeof(u32));

	dt_write_int(data, value, count * sizeof(u32));
	return data;
}

static void add_pair(struct device_tree_node *node, const char *name, uint64_t a, uint64_t b,
		     u32 a_cells, u32 b_cells)
{
	u8 *data = xmalloc((a_cells + b_cells) * sizeof(u32));

	dt_write_int(data, a, a_cells * sizeof(u32));
	dt_write_int(data + a_cells * sizeof(u32), b, b_cells * sizeof(u32));
	dt_add_bin_prop(node, name, data, (a_cells + b_cells) * sizeof(u32));
}

/* One /reserved-memory child; no_map for memory the OS must not even map. */
static void add_reserved(struct device_tree *tree, const struct region *r, int no_map)
{
	struct device_tree_node *node;
	u32 addr_cells = 2, size_cells = 2;
	char path[80];

	snprintf(path, sizeof(path), "/reserved-memory/%s@%llx", r->kind,
		 (unsigned long long)r->base);
	node = dt_find_node_by_path(tree, path, &addr_cells, &size_cells, 1);
	if (!node) {
		printk(BIOS_ERR, "warmboot: cannot add %s to the device tree\n", path);
		return;
	}
	/* dt_find_node_by_path() read the cells of /reserved-memory for its child. */
	dt_add_string_prop(node, "compatible",
			   no_map ? PMT_DT_FIRMWARE_COMPATIBLE : PMT_DT_PRESERVED_COMPATIBLE);
	add_pair(node, "reg", r->base, r->size, addr_cells, size_cells);
	if (r->has_copy_of)
		dt_add_bin_prop(node, PMT_DT_COPY_OF, cells(r->copy_of, addr_cells),
				addr_cells * sizeof(u32));
	if (no_map)
		dt_add_bin_prop(node, "no-map", NULL, 0);
	/* Not where coreboot places the kernel, its initramfs or the tree. */
	bootmem_add_range(r->base, r->size, BM_MEM_PAYLOAD);
}

/* libfdt-style insertion puts a new child first: add in descending order. */
static void add_sorted(struct device_tree *tree, struct region *r, size_t n, int no_map)
{
	size_t i, j;

	for (i = 1; i < n; i++)
		for (j = i; j > 0 && r[j - 1].base > r[j].base; j--) {
			struct region t = r[j];

			r[j] = r[j - 1];
			r[j - 1] = t;
		}
	while (n--)
		add_reserved(tree, &r[n], no_map);
}

/* Memory firmware owns on every boot (Kconfig), reserved no-map for the OS. */
static void reserve_firmware(struct device_tree *tree)
{
	const uint64_t dram = (uintptr_t)_dram;
	const uint64_t top = (uintptr_t)cbmem_top();
	const uint64_t band = top - CONFIG_WARMBOOT_CBMEM_BAND;
	struct region fw[3];
	void *cbmem_base;
	size_t cbmem_size, n = 0;

	/* QEMU's own device tree blob, rewritten on every reset. */
	if (CONFIG_WARMBOOT_FIRMWARE_LOW_END > dram)
		fw[n++] = (struct region){ PMT_DT_FIRMWARE_NODE, dram,
					   CONFIG_WARMBOOT_FIRMWARE_LOW_END - dram };
	/* Bootblock, romstage, their stack and page tables: used before the copy. */
	if (CONFIG_WARMBOOT_FIRMWARE_RESERVED_SIZE)
		fw[n++] = (struct region){ PMT_DT_FIRMWARE_NODE,
					   CONFIG_WARMBOOT_FIRMWARE_RESERVED_BASE,
					   CONFIG_WARMBOOT_FIRMWARE_RESERVED_SIZE };
	/*
	 * The band CBMEM may grow into. coreboot's FIT loader carves CBMEM out
	 * of /memory itself, rounded out to 1 MiB, and lists that in the
	 * reserve map; the kernel refuses a no-map node that overlaps it.
	 */
	cbmem_get_region(&cbmem_base, &cbmem_size);
	if (ALIGN_DOWN((uintptr_t)cbmem_base, MiB) > band)
		fw[n++] = (struct region){ PMT_DT_FIRMWARE_NODE, band,
					   ALIGN_DOWN((uintptr_t)cbmem_base, MiB) - band };
	if ((uintptr_t)cbmem_base < band)
		printk(BIOS_ERR, "warmboot: CBMEM (%zu KiB) outgrew WARMBOOT_CBMEM_BAND\n",
		       cbmem_size >> 10);
	add_sorted(tree, fw, n, 1);
}

/* An accepted table: every kept PRESERVE region and BOOT_COPY destination. */
static size_t reserve_table(struct device_tree *tree, const void *table,
			    const struct pmt_header_v1 *hdr)
{
	struct region *r = xzalloc((hdr->entry_count + 1) * sizeof(*r));
	const uint64_t table_end = hdr->table_addr + hdr->total_size;
	struct pmt_entry_v1 e;
	size_t n = 0;
	uint32_t i;
	int covered = 0;

	for (i = 0; i < hdr->entry_count; i++) {
		pmt_entry_get(table, hdr, i, &e);
		if (e.fw_status == PMT_STATUS_SKIPPED || e.fw_status == PMT_STATUS_FAILED)
			continue;
		if (e.type == PMT_ENTRY_PRESERVE) {
			r[n++] = (struct region){ PMT_DT_PRESERVED_NODE, e.base, e.size };
			covered |= e.base <= hdr->table_addr && table_end <= e.base + e.size;
		} else if (e.type == PMT_ENTRY_BOOT_COPY) {
			r[n++] = (struct region){ PMT_DT_BOOT_COPY_NODE, e.dest, e.size,
						  e.base, 1 };
		}
	}
	if (!covered)
		r[n++] = (struct region){ PMT_DT_PMT_NODE, ALIGN_DOWN(hdr->table_addr, 4096),
					  ALIGN_UP(table_end, 4096)
					  - ALIGN_DOWN(hdr->table_addr, 4096) };
	add_sorted(tree, r, n, 0);
	return n;
}

static int warmboot_dt_fixup(struct device_tree_fixup *fixup, struct device_tree *tree)
{
	const struct pmt_header_v1 *hdr = cbmem_find(CBMEM_ID_WARMBOOT_PMT);
	struct pmt_header_v1 judged;
	const void *accepted = warmboot_accepted_table(&judged);
	struct warmboot_mailbox *mb = warmboot_mailbox();
	struct device_tree_node *chosen;
	u32 ac = 2, sc = 2;
	size_t kept = 0;

	if (!hdr) {
		printk(BIOS_ERR, "warmboot: no PMT anchor: no device-tree hand-off\n");
		return 0;
	}
	if (!dt_init_reserved_memory_node(tree))
		return 0;
	chosen = dt_find_node_by_path(tree, "/chosen", &ac, &sc, 1);
	add_pair(chosen, PMT_DT_ANCHOR, (uintptr_t)hdr, CONFIG_WARMBOOT_ANCHOR_SIZE, ac, sc);
	add_pair(chosen, PMT_DT_BOOT_WINDOW, CONFIG_WARMBOOT_BOOT_WINDOW_BASE,
		 CONFIG_WARMBOOT_BOOT_WINDOW_SIZE, ac, sc);
	if (mb)
		add_pair(chosen, PMT_DT_RESET_MAILBOX, (uintptr_t)mb, sizeof(*mb), ac, sc);
	reserve_firmware(tree);

	/* Romstage zeroes the anchor unless it found an armed, registered table. */
	if (memcmp(hdr->magic, PMT_MAGIC, PMT_MAGIC_SIZE) == 0 && (hdr->flags & PMT_FLAG_ARMED)) {
		const int rejected = !accepted;
		u32 *status = xmalloc(PMT_DT_PMT_STATUS_CELLS * sizeof(u32));
		uint32_t size = MIN(hdr->total_size, (uint32_t)WARMBOOT_TABLE_MAX);

		add_pair(chosen, PMT_DT_PMT, (uintptr_t)hdr, size, ac, sc);
		dt_write_int((u8 *)&status[0], hdr->flags, 4);
		dt_write_int((u8 *)&status[1], hdr->reject_reason, 4);
		dt_write_int((u8 *)&status[2], hdr->reset_cause, 4);
		dt_write_int((u8 *)&status[3], hdr->flags & PMT_FLAG_REJECTED
			     ? hdr->reject_entry : PMT_NO_ENTRY, 4);
		dt_add_bin_prop(chosen, PMT_DT_PMT_STATUS, status,
				PMT_DT_PMT_STATUS_CELLS * sizeof(u32));
		if (accepted) {
			kept = reserve_table(tree, accepted, &judged);
		} else {
			struct region pmt = { PMT_DT_PMT_NODE, (uintptr_t)hdr,
					      ALIGN_UP(size, 4096) };

			add_reserved(tree, &pmt, 0);
		}
		printk(BIOS_INFO, "warmboot: device tree: PMT generation %llu %s, %zu "
		       "reserved regions\n", (unsigned long long)hdr->generation,
		       rejected ? "rejected" : "kept", kept);
	}
	printk(BIOS_INFO, "warmboot: device tree: anchor %p, boot window %#x+%#x, reset "
	       "mailbox %p\n", hdr, CONFIG_WARMBOOT_BOOT_WINDOW_BASE,
	       CONFIG_WARMBOOT_BOOT_WINDOW_SIZE, mb);
	return 0;
}

static struct device_tree_fixup fixup = {
	.fixup = warmboot_dt_fixup,
};

static void register_fixup(void *unused)
{
	list_insert_after(&fixup.list_node, &device_tree_fixups);
}

BOOT_STATE_INIT_ENTRY(BS_PAYLOAD_LOAD, BS_ON_ENTRY, register_fixup, NULL);
