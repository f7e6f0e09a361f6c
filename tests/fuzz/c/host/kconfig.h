/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Host builds of warmboot's firmware code (pmt_common.c): the Kconfig values
 * of the qemu-q35 board (build/qemu-q35/coreboot/config) and coreboot's
 * CONFIG() macro. Options not defined here are off, as in coreboot.
 */

#ifndef WARMBOOT_HOST_KCONFIG_H
#define WARMBOOT_HOST_KCONFIG_H

#define CONFIG(option)				(CONFIG_##option + 0)
#define CONFIG_WARMBOOT_ANCHOR_SIZE		0x10000
#define CONFIG_WARMBOOT_BOOT_WINDOW_BASE	0x100000
#define CONFIG_WARMBOOT_BOOT_WINDOW_SIZE	0x4f00000
#define CONFIG_WARMBOOT_CBMEM_BAND		0x200000
#define CONFIG_WARMBOOT_FIRMWARE_LOW_END	0x100000
#define CONFIG_WARMBOOT_FIRMWARE_RESERVED_BASE	0x0
#define CONFIG_WARMBOOT_FIRMWARE_RESERVED_SIZE	0x0

#endif
