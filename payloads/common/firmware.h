/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What firmware told this boot about the preserved-memory table: where the
 * anchor is (the fixed area the OS writes its PMT into), what firmware made
 * of the table it found there, and the boot memory window it reuses on
 * every boot (docs/handoff.md, LB_TAG_WARMBOOT_PMT).
 *
 * wb_firmware_find() is the one lookup every tool uses. Its backends are
 * the device tree the kernel booted with (aarch64: /chosen/warmboot,* under
 * SYSFS/firmware/devicetree/base, which is /proc/device-tree) and x86
 * coreboot tables, tried in that order.
 */

#ifndef WARMBOOT_FIRMWARE_H
#define WARMBOOT_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"
#include "physmem.h"

#define WB_LB_TAG_MEMORY 0x0001u
#define WB_LB_TAG_FORWARD 0x0011u
#define WB_MAX_FW_MEM_RANGES 256

/* lb_memory_range.type */
enum wb_lb_mem_type {
	WB_LB_MEM_RAM = 1,
	WB_LB_MEM_RESERVED = 2,
	WB_LB_MEM_ACPI = 3,
	WB_LB_MEM_NVS = 4,
	WB_LB_MEM_UNUSABLE = 5,
	WB_LB_MEM_VENDOR_RSVD = 6,
	WB_LB_MEM_TABLE = 16,
};

struct wb_fw_mem_range {
	uint64_t start;
	uint64_t size;
	uint32_t type;
};

struct wb_firmware {
	char where[64];			/* where the hand-off was found, for messages */
	uint64_t anchor_addr;
	uint32_t anchor_size;
	uint32_t flags;			/* the PMT header's flags as firmware left them */
	uint16_t reject_reason;
	uint16_t reset_cause;
	uint32_t reject_entry;
	uint64_t generation;
	uint64_t boot_window_base;
	uint64_t boot_window_size;
	/*
	 * Where the OS hands over the arm cookie (PMT_COOKIE_*): CMOS bytes from
	 * offset cookie_addr, or the reset mailbox of device-tree boards at
	 * cookie_addr, which the OS's crash path writes; NONE when firmware does
	 * not say (coreboot record layout 1).
	 */
	uint32_t cookie_kind;
	uint64_t cookie_addr;
	uint32_t cookie_size;
	/* Memory below this is firmware's on every boot. */
	uint64_t firmware_low_end;
	/* Firmware's memory map (LB_TAG_MEMORY); mem_count 0 when absent. */
	uint32_t mem_count;
	int mem_truncated;
	struct wb_fw_mem_range mem[WB_MAX_FW_MEM_RANGES];
};

/*
 * Find firmware's PMT hand-off: in the device tree under paths->sysfs, else
 * in physical memory. Returns 0, or -1 with a one-line reason in why
 * (nothing printed).
 */
int wb_firmware_find(const struct wb_paths *paths, const struct wb_physmem *mem,
		     struct wb_firmware *fw, char *why, size_t why_len);

/* The coreboot-table backend (x86: searched at 0x0 and 0xf0000). */
int wb_cbtable_find(const struct wb_physmem *mem, struct wb_firmware *fw, char *why,
		    size_t why_len);

/*
 * The device-tree backend (docs/handoff.md): /chosen/warmboot,anchor,
 * warmboot,boot-window, warmboot,reset-mailbox, and warmboot,pmt with
 * warmboot,pmt-status when firmware processed an armed table. 1 when the
 * tree has no warmboot,anchor (try another backend), 0 found, -1 broken.
 */
int wb_dt_find(const char *sysfs, const struct wb_physmem *mem, struct wb_firmware *fw,
	       char *why, size_t why_len);

/* The PSCI conduit the kernel uses (/psci/method): 1 hvc, 0 smc (default). */
int wb_dt_psci_uses_hvc(const char *sysfs);

const char *wb_lb_mem_type_name(uint32_t type);

#endif /* WARMBOOT_FIRMWARE_H */
