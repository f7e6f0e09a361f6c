/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Host driver for the firmware's own rules (site-local/warmboot/pmt_common.c,
 * built with tests/fuzz/c/host/ for qemu-q35's Kconfig): reads the anchor's
 * first half from stdin and judges it as romstage does (in place) and as SMM
 * does (a snapshot into a 4 KiB copy, as wdt_smm.c).
 *
 * usage: firmware_judge_harness ANCHOR COOKIE < first-half
 * prints: "check REASON ENTRY" and "snapshot REASON ENTRY".
 */

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "warmboot.h"

static uint8_t half[WARMBOOT_TABLE_MAX], copy[4096];

int main(int argc, char **argv)
{
	struct warmboot_judge judge;
	struct pmt_decoded dec;
	uintptr_t anchor;
	int rc;

	if (argc != 3)
		return 2;
	anchor = (uintptr_t)strtoull(argv[1], NULL, 0);
	if (fread(half, 1, sizeof(half), stdin) == 0)
		return 2;
	warmboot_judge_init_minimal(&judge, strtoull(argv[2], NULL, 0));

	rc = warmboot_check(half, sizeof(half), anchor, &judge, &dec);
	printf("check %d %" PRId32 "\n", rc, (int32_t)dec.bad_entry);
	rc = warmboot_snapshot(half, anchor, copy, sizeof(copy), &judge, &dec);
	printf("snapshot %d %" PRId32 "\n", rc, (int32_t)dec.bad_entry);
	return 0;
}
