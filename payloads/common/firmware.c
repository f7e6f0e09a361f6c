/* SPDX-License-Identifier: GPL-2.0-only */
/* The one place the tools ask firmware for the PMT hand-off; see firmware.h. */

#include "firmware.h"

int wb_firmware_find(const struct wb_paths *paths, const struct wb_physmem *mem,
		     struct wb_firmware *fw, char *why, size_t why_len)
{
	int rc;

	/*
	 * The device tree first: an aarch64 kernel has one, an x86 kernel has
	 * no /sys/firmware/devicetree and goes on to coreboot tables.
	 */
	rc = wb_dt_find(paths->sysfs, mem, fw, why, why_len);
	if (rc <= 0)
		return rc;
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
