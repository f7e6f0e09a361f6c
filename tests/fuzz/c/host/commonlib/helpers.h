/* SPDX-License-Identifier: GPL-2.0-only */
/* Host builds of warmboot's firmware code: what it uses of coreboot's helpers.h. */

#ifndef WARMBOOT_HOST_HELPERS_H
#define WARMBOOT_HOST_HELPERS_H

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
