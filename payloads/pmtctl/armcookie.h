/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Where the table's arm cookie is registered with firmware, which acts only
 * on a table whose arm_cookie equals it:
 *
 *   x86 (coreboot table): CMOS bytes from the offset the record names,
 *     set when the OS arms (cmos.h); a power loss clears CMOS.
 *   device-tree boards (aarch64, no CMOS): firmware's reset mailbox
 *     (/chosen/warmboot,reset-mailbox), {magic "WBRESET!", cookie}, written
 *     only by the crash stub right before its warm reset; arming clears it.
 *
 * docs/crashdump.md explains both choices.
 */

#ifndef WARMBOOT_ARMCOOKIE_H
#define WARMBOOT_ARMCOOKIE_H

#include <stdint.h>

#include "firmware.h"
#include "options.h"
#include "physmem.h"

/* 1 when this firmware keeps the cookie in a reset mailbox. */
int armcookie_in_mailbox(const struct wb_firmware *fw);

/* On registration: CMOS = cookie; the mailbox is cleared (the stub fills it). */
int armcookie_arm(const struct wb_paths *paths, const struct wb_physmem *mem,
		  const struct wb_firmware *fw, uint64_t cookie);

/* Registered as if the crash path had run too (write-raw): CMOS or mailbox = cookie. */
int armcookie_force(const struct wb_paths *paths, const struct wb_physmem *mem,
		    const struct wb_firmware *fw, uint64_t cookie);

/* Disarm: 0 in CMOS, or an empty mailbox. */
int armcookie_clear(const struct wb_paths *paths, const struct wb_physmem *mem,
		    const struct wb_firmware *fw);

/* The registered cookie (0: none) and where it was read, for `status`. */
int armcookie_read(const struct wb_paths *paths, const struct wb_physmem *mem,
		   const struct wb_firmware *fw, uint64_t *cookie, const char **where);

#endif /* WARMBOOT_ARMCOOKIE_H */
