/* SPDX-License-Identifier: GPL-2.0-only */
/* The one place the tools ask firmware for the PMT hand-off; see firmware.h. */

#include "firmware.h"

int wb_firmware_find(const struct wb_physmem *mem, struct wb_firmware *fw, char *why,
		     size_t why_len)
{
	/*
	 * Only coreboot tables so far. The aarch64 boards will hand over the
	 * anchor in the device tree instead (docs/handoff.md); that backend
	 * reads /sys/firmware/fdt and is tried here first on aarch64.
	 */
	return wb_cbtable_find(mem, fw, why, why_len);
}

const char *wb_lb_mem_type_name(uint32_t type)
{
	switch (type) {
	case WB_LB_MEM_RAM:
		return "RAM";
	case WB_LB_MEM_RESERVED:
		return "RESERVED";
	case WB_LB_MEM_ACPI:
		return "ACPI";
	case WB_LB_MEM_NVS:
		return "NVS";
	case WB_LB_MEM_UNUSABLE:
		return "UNUSABLE";
	case WB_LB_MEM_VENDOR_RSVD:
		return "VENDOR_RSVD";
	case WB_LB_MEM_TABLE:
		return "TABLE";
	default:
		return "?";
	}
}
