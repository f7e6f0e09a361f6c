/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The arm cookie in CMOS: PMT_CMOS_COOKIE_SIZE bytes of bank 0 from the
 * offset firmware names in its coreboot record (cookie_addr), little-endian.
 * Firmware acts only on a table whose arm_cookie equals it; a power loss
 * gives fresh CMOS, so a stale table in retained DRAM is never acted on.
 * The real CMOS is reached through /dev/port (CONFIG_DEVPORT), x86 only.
 */

#ifndef WARMBOOT_CMOS_H
#define WARMBOOT_CMOS_H

#include <stdint.h>

#include "pmt.h"

#define WB_CMOS_SIZE 128u

/*
 * image: a 128-byte CMOS image file, or NULL for the real CMOS; offset: the
 * cookie's first byte. Print errors.
 */
int cmos_read_cookie(const char *image, uint64_t offset, uint64_t *cookie);
int cmos_write_cookie(const char *image, uint64_t offset, uint64_t cookie);

#endif /* WARMBOOT_CMOS_H */
