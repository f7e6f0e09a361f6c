/* SPDX-License-Identifier: GPL-2.0-only */
/* The arm cookie on device-tree boards: the reset mailbox (pmt_mailbox.h). */

#include <cbmem.h>
#include <console/console.h>
#include <rules.h>

#include "pmt_mailbox.h"
#include "warmboot.h"

struct warmboot_mailbox *warmboot_mailbox(void)
{
	if (ENV_ROMSTAGE)
		return cbmem_add(CBMEM_ID_WARMBOOT_MAILBOX, sizeof(struct warmboot_mailbox));
	return cbmem_find(CBMEM_ID_WARMBOOT_MAILBOX);
}

/*
 * What CMOS holds on x86 (the name is x86's). Romstage calls this right
 * after it re-created the anchor, so the mailbox is allocated after it, at
 * the same address on every boot. Only a crash path writes the magic: a
 * power-on, or a reset that was not a crash, finds none and acts on nothing.
 */
uint64_t warmboot_cmos_cookie(void)
{
	struct warmboot_mailbox *mb = warmboot_mailbox();

	if (!mb)
		return 0;
	if (mb->magic != PMT_MAILBOX_MAGIC) {
		mb->magic = 0;	/* whatever power-on left there */
		mb->cookie = 0;
		return 0;
	}
	printk(BIOS_INFO, "warmboot: reset mailbox at %p holds cookie %#llx\n", mb,
	       (unsigned long long)mb->cookie);
	return mb->cookie;
}
