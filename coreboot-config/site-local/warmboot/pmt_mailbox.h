/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The reset mailbox: where boards without CMOS (aarch64) keep the arm
 * cookie. A 16-byte CBMEM entry, allocated in romstage right after the
 * anchor, so it is at the same address on every boot of an image. The OS's
 * crash path (pmtctl's crash stub) writes {magic, cookie} there immediately
 * before its PSCI SYSTEM_RESET; `pmtctl arm` and `pmtctl disarm` clear it.
 * Its address reaches the OS as /chosen/warmboot,reset-mailbox
 * (docs/handoff.md); docs/crashdump.md says why it replaces CMOS here.
 */

#ifndef WARMBOOT_PMT_MAILBOX_H
#define WARMBOOT_PMT_MAILBOX_H

#include <stdint.h>

#include "pmt.h"

/* CBMEM id ("WBRM"). */
#define CBMEM_ID_WARMBOOT_MAILBOX	0x5742524d
/* Its magic is PMT_MAILBOX_MAGIC and its size PMT_MAILBOX_SIZE (pmt.h). */
struct warmboot_mailbox {
	uint64_t magic;
	uint64_t cookie;
};

_Static_assert(sizeof(struct warmboot_mailbox) == PMT_MAILBOX_SIZE, "mailbox size");

/* romstage: allocate (same address every boot); ramstage: find. NULL if none. */
struct warmboot_mailbox *warmboot_mailbox(void);

#endif /* WARMBOOT_PMT_MAILBOX_H */
