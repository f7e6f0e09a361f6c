/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Names of the PMT's enum values (pmt.h), for messages.
 *
 * GENERATED from python/warmboot/pmt/spec.py by `warmboot pmt gen`;
 * do not edit. Each macro initializes an array indexed by value, NULL
 * where no value is defined:
 *   static const char *const names[] = PMT_REJECT_NAMES;
 * Firmware and the payload tools use it; the kernel does not.
 */

#ifndef WARMBOOT_PMT_NAMES_H
#define WARMBOOT_PMT_NAMES_H

#include <stddef.h>

/* enum pmt_entry_type */
#define PMT_ENTRY_TYPE_NAMES { \
	NULL, \
	"PRESERVE", \
	"BOOT_COPY", \
	"CPU_STATE", \
	"VMCOREINFO", \
	"CRASH_NOTES", \
	"TABLE", \
}

/* enum pmt_entry_status */
#define PMT_STATUS_NAMES { \
	"NONE", \
	"PRESERVED", \
	"COPIED", \
	"SKIPPED", \
	"FAILED", \
}

/* enum pmt_reset_cause */
#define PMT_RESET_CAUSE_NAMES { \
	"UNKNOWN", \
	"WARM_RESET", \
	"WATCHDOG", \
	"OTHER", \
}

/* enum pmt_reject_reason */
#define PMT_REJECT_NAMES { \
	"NONE", \
	"BAD_MAGIC", \
	"BAD_VERSION", \
	"BAD_SIZES", \
	"COUNT_OVERFLOW", \
	"BAD_CRC", \
	"TOO_MANY_ENTRIES", \
	"STALE", \
	"BAD_MACHINE", \
	"BAD_CPU_COUNT", \
	"BAD_ENTRY", \
	"ZERO_SIZE", \
	"WRAP", \
	"UNALIGNED", \
	"PRESERVE_IN_FIRMWARE", \
	"DEST_IN_FIRMWARE", \
	"CPU_STATE_FORBIDDEN", \
	"METADATA_MISMATCH", \
	"TABLE_OUTSIDE_ENTRY", \
	"OVERLAP", \
	"COPY_DEST_CONFLICT", \
	"METADATA_OUTSIDE_PRESERVED", \
}

/* enum pmt_reject_reason, as firmware's console says it */
#define PMT_REJECT_TEXTS { \
	"none", \
	"bad magic", \
	"bad version", \
	"bad sizes", \
	"count overflow", \
	"bad CRC", \
	"too many entries", \
	"stale (cookie mismatch)", \
	"bad machine", \
	"bad cpu count", \
	"bad entry", \
	"zero size", \
	"wrap-around", \
	"unaligned", \
	"preserve region in firmware memory", \
	"destination in firmware memory", \
	"CPU_STATE in forbidden memory", \
	"metadata mismatch", \
	"table outside its TABLE entry", \
	"overlapping entries", \
	"copy destination conflict", \
	"metadata outside preserved memory", \
}

#endif /* WARMBOOT_PMT_NAMES_H */
