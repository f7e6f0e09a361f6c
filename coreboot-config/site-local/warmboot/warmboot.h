/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * warmboot: the firmware side of the preserved-memory table (PMT).
 * The format is docs/pmt.md; the flow is docs/crashdump.md.
 */

#ifndef WARMBOOT_H
#define WARMBOOT_H

#include <stddef.h>
#include <stdint.h>

#include "pmt.h"
#include "pmt_validate.h"

/* CBMEM id of the PMT anchor ("WBPT"). */
#define CBMEM_ID_WARMBOOT_PMT	0x57425054

/* LB_TAG_WARMBOOT_PMT and struct lb_warmboot_pmt come from pmt.h (generated). */

/* The table lives in the anchor's first half, CPU_STATE in its second. */
#define WARMBOOT_TABLE_MAX	(CONFIG_WARMBOOT_ANCHOR_SIZE / 2)
#define WARMBOOT_FW_RANGES	7
/* Romstage copies with 32-bit pointers: BOOT_COPY destinations end below this. */
#define WARMBOOT_COPY_LIMIT	(4ULL << 30)

/* Firmware ranges and limits used to judge the anchor's table on this boot. */
struct warmboot_judge {
	struct pmt_range fw[WARMBOOT_FW_RANGES];
	struct pmt_limits lim;
};

/*
 * The 64-bit cookie that registers the table; 0 if none. x86: the OS stores
 * it in CMOS when it arms. arm64, which has no CMOS: the OS's crash path
 * stores it in the reset mailbox before its warm reset (pmt_mailbox.c).
 */
uint64_t warmboot_cmos_cookie(void);

/*
 * RAM the board has from 4 GiB up, in bytes ([4 GiB, 4 GiB + size)); 0 if
 * none or unknown, and then everything above the top of low RAM is
 * firmware's. Boards that know their high RAM in romstage override it.
 */
uint64_t warmboot_high_ram_size(void);

/* Fill judge for the anchor at `anchor`, with the registered cookie. */
void warmboot_judge_init(struct warmboot_judge *judge, uintptr_t anchor, uint64_t cookie);

/*
 * Only the limits that need no memory map (low memory and the boot window),
 * for SMM, which relies on the anchor's address it was given at boot.
 */
void warmboot_judge_init_minimal(struct warmboot_judge *judge, uint64_t cookie);

/*
 * APMC command with which ramstage tells SMM, once and before the OS runs,
 * where the anchor is (EBX) and which CPUs it may summon (ECX: a mask of
 * APIC ids, the BSP's included).
 */
#define APM_CNT_WARMBOOT_ANCHOR	0xe7

/* SMM, on the TCO watchdog's first timeout (patches/4.15/0003). */
void mainboard_smi_tco_timeout(void);

/*
 * The anchor's table if romstage accepted and copied it on this boot and it
 * still passes the same checks, with its judged header in *hdr; NULL
 * otherwise (pmt_ramstage.c). Read entries with pmt_entry_get(table, hdr).
 */
const void *warmboot_accepted_table(struct pmt_header_v1 *hdr);

/*
 * Judge a table: the format rules (pmt_validate) plus what this firmware
 * needs: the table is the anchor, CPU_STATE lies in the anchor's second
 * half, and BOOT_COPY sources lie inside the boot window. `table` holds
 * len bytes of it (the anchor itself, or a copy); `anchor` is the anchor's
 * physical address. Returns 0 or a PMT_REJECT_* reason; dec->bad_entry
 * names the entry, and dec->hdr is the decoded header of an accepted table.
 *
 * Callers take every value they act on from dec->hdr and from entries read
 * out of the same bytes: never from the anchor's header again. Where the
 * OS can write the anchor meanwhile (SMM), judge a snapshot instead.
 */
int warmboot_check(const void *table, size_t len, uintptr_t anchor,
		   const struct warmboot_judge *judge, struct pmt_decoded *dec);

/*
 * Copy the table out of the anchor at anchor_mem (physical address anchor)
 * into buf[0, room), reading each byte of it exactly once, and judge the
 * copy with warmboot_check(). A table larger than room is refused
 * (BAD_SIZES). For SMM, which runs while the OS may write the anchor.
 */
int warmboot_snapshot(const volatile void *anchor_mem, uintptr_t anchor, uint8_t *buf,
		      size_t room, const struct warmboot_judge *judge, struct pmt_decoded *dec);

/* A short name for a reject reason, for the console. */
const char *warmboot_reason_name(int reason);

#endif /* WARMBOOT_H */
