/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Preserved-memory table (PMT) v1: wire layout, enums and flags.
 *
 * GENERATED from python/warmboot/pmt/spec.py by `warmboot pmt gen`;
 * do not edit. docs/pmt.md is the spec. All fields are little-endian;
 * the structs match the wire layout on little-endian machines (asserted
 * below), but the readers read bytes and need neither.
 */

#ifndef WARMBOOT_PMT_H
#define WARMBOOT_PMT_H

#include <stddef.h>
#include <stdint.h>

#define PMT_MAGIC "WBOOTPMT"
#define PMT_MAGIC_SIZE 8
#define PMT_MAJOR 1
#define PMT_MINOR 0
#define PMT_PAGE_SIZE 4096
#define PMT_NOTE_ALIGN 4
#define PMT_SIZE_GRANULE 8
#define PMT_NO_ENTRY 0xffffffffu
#define PMT_EM_X86_64 62
#define PMT_EM_AARCH64 183
#define PMT_OS_FLAGS_MASK 0x0000ffffu
#define PMT_FW_FLAGS_MASK 0xffff0000u
#define PMT_CPU_RECORD_MAGIC 0x55504350u
#define PMT_CPU_RECORD_VERSION 1
#define PMT_MAX_GREGS 34
#define PMT_MAX_SYSREGS 8
#define PMT_X86_64_NREGS 27
#define PMT_AARCH64_NREGS 34
#define PMT_PRSTATUS_PR_REG_OFFSET 112
#define PMT_DEFAULT_MAX_ENTRIES 1024
#define PMT_DEFAULT_MAX_CPUS 4096
#define PMT_MAILBOX_MAGIC 0x2154455345524257ull
#define PMT_MAILBOX_SIZE 16
#define PMT_CMOS_COOKIE_SIZE 8
#define PMT_DEFAULT_FIRMWARE_LOW_END 0x100000ull

/* header: 120 bytes */
#define PMT_HEADER_V1_SIZE 120
/* Firmware-owned bytes [42, 64): read as 0 by the CRC. */
#define PMT_HEADER_FW_START 42
#define PMT_HEADER_FW_END 64
#define PMT_HEADER_OFF_MAGIC 0
#define PMT_HEADER_OFF_MAJOR 8
#define PMT_HEADER_OFF_MINOR 10
#define PMT_HEADER_OFF_HEADER_SIZE 12
#define PMT_HEADER_OFF_ENTRY_SIZE 16
#define PMT_HEADER_OFF_ENTRY_COUNT 20
#define PMT_HEADER_OFF_TOTAL_SIZE 24
#define PMT_HEADER_OFF_CRC32 28
#define PMT_HEADER_OFF_GENERATION 32
#define PMT_HEADER_OFF_FLAGS 40
#define PMT_HEADER_OFF_REJECT_REASON 44
#define PMT_HEADER_OFF_RESET_CAUSE 46
#define PMT_HEADER_OFF_REJECT_ENTRY 48
#define PMT_HEADER_OFF_BOOT_COUNT 52
#define PMT_HEADER_OFF_FW_RESERVED 56
#define PMT_HEADER_OFF_E_MACHINE 64
#define PMT_HEADER_OFF_CPU_COUNT 66
#define PMT_HEADER_OFF_CPU_RECORD_SIZE 68
#define PMT_HEADER_OFF_TABLE_ADDR 72
#define PMT_HEADER_OFF_ARM_COOKIE 80
#define PMT_HEADER_OFF_VMCOREINFO_ADDR 88
#define PMT_HEADER_OFF_VMCOREINFO_SIZE 96
#define PMT_HEADER_OFF_CPU_STATE_ADDR 104
#define PMT_HEADER_OFF_CPU_STATE_SIZE 112

struct pmt_header_v1 {
	uint8_t magic[8];		/* ASCII "WBOOTPMT" */
	uint16_t major;			/* 1; readers reject any other major */
	uint16_t minor;			/* 0; a minor bump only appends fields */
	uint32_t header_size;		/* entries start here (>= 120, multiple of 8) */
	uint32_t entry_size;		/* bytes per entry (>= 32, multiple of 8) */
	uint32_t entry_count;		/* number of entries */
	uint32_t total_size;		/* bytes covered by crc32: header, entries, trailer */
	uint32_t crc32;			/* IEEE CRC-32; itself and firmware bytes read as 0 */
	uint64_t generation;		/* bumped by the OS on every registration */
	uint32_t flags;			/* PmtFlags (PMT_FLAG_*) [bits 16-31: fw] */
	uint16_t reject_reason;		/* RejectReason (PMT_REJECT_*) when REJECTED [fw] */
	uint16_t reset_cause;		/* ResetCause (PMT_RESET_*) firmware saw [fw] */
	uint32_t reject_entry;		/* entry that broke a rule, or 0xFFFFFFFF [fw] */
	uint32_t boot_count;		/* warm resets that processed this armed table [fw] */
	uint64_t fw_reserved;		/* reserved for firmware status (0) [fw] */
	uint16_t e_machine;		/* ELF machine: 62 (x86_64) or 183 (aarch64) */
	uint16_t cpu_count;		/* CPU record slots in CPU_STATE (possible CPUs) */
	uint32_t cpu_record_size;	/* bytes per CPU record (>= 384, multiple of 8) */
	uint64_t table_addr;		/* physical address this table lives at */
	uint64_t arm_cookie;		/* nonce also handed to firmware at registration */
	uint64_t vmcoreinfo_addr;	/* VMCOREINFO note address (0: none) */
	uint64_t vmcoreinfo_size;	/* its size in bytes (0: none) */
	uint64_t cpu_state_addr;	/* CPU register save area address (0: none) */
	uint64_t cpu_state_size;	/* its size in bytes (0: none) */
};

_Static_assert(sizeof(struct pmt_header_v1) == 120,
	       "pmt_header_v1 size");
_Static_assert(offsetof(struct pmt_header_v1, magic) == 0
	       && sizeof(((struct pmt_header_v1 *)0)->magic) == 8,
	       "pmt_header_v1.magic offset and size");
_Static_assert(offsetof(struct pmt_header_v1, major) == 8
	       && sizeof(((struct pmt_header_v1 *)0)->major) == 2,
	       "pmt_header_v1.major offset and size");
_Static_assert(offsetof(struct pmt_header_v1, minor) == 10
	       && sizeof(((struct pmt_header_v1 *)0)->minor) == 2,
	       "pmt_header_v1.minor offset and size");
_Static_assert(offsetof(struct pmt_header_v1, header_size) == 12
	       && sizeof(((struct pmt_header_v1 *)0)->header_size) == 4,
	       "pmt_header_v1.header_size offset and size");
_Static_assert(offsetof(struct pmt_header_v1, entry_size) == 16
	       && sizeof(((struct pmt_header_v1 *)0)->entry_size) == 4,
	       "pmt_header_v1.entry_size offset and size");
_Static_assert(offsetof(struct pmt_header_v1, entry_count) == 20
	       && sizeof(((struct pmt_header_v1 *)0)->entry_count) == 4,
	       "pmt_header_v1.entry_count offset and size");
_Static_assert(offsetof(struct pmt_header_v1, total_size) == 24
	       && sizeof(((struct pmt_header_v1 *)0)->total_size) == 4,
	       "pmt_header_v1.total_size offset and size");
_Static_assert(offsetof(struct pmt_header_v1, crc32) == 28
	       && sizeof(((struct pmt_header_v1 *)0)->crc32) == 4,
	       "pmt_header_v1.crc32 offset and size");
_Static_assert(offsetof(struct pmt_header_v1, generation) == 32
	       && sizeof(((struct pmt_header_v1 *)0)->generation) == 8,
	       "pmt_header_v1.generation offset and size");
_Static_assert(offsetof(struct pmt_header_v1, flags) == 40
	       && sizeof(((struct pmt_header_v1 *)0)->flags) == 4,
	       "pmt_header_v1.flags offset and size");
_Static_assert(offsetof(struct pmt_header_v1, reject_reason) == 44
	       && sizeof(((struct pmt_header_v1 *)0)->reject_reason) == 2,
	       "pmt_header_v1.reject_reason offset and size");
_Static_assert(offsetof(struct pmt_header_v1, reset_cause) == 46
	       && sizeof(((struct pmt_header_v1 *)0)->reset_cause) == 2,
	       "pmt_header_v1.reset_cause offset and size");
_Static_assert(offsetof(struct pmt_header_v1, reject_entry) == 48
	       && sizeof(((struct pmt_header_v1 *)0)->reject_entry) == 4,
	       "pmt_header_v1.reject_entry offset and size");
_Static_assert(offsetof(struct pmt_header_v1, boot_count) == 52
	       && sizeof(((struct pmt_header_v1 *)0)->boot_count) == 4,
	       "pmt_header_v1.boot_count offset and size");
_Static_assert(offsetof(struct pmt_header_v1, fw_reserved) == 56
	       && sizeof(((struct pmt_header_v1 *)0)->fw_reserved) == 8,
	       "pmt_header_v1.fw_reserved offset and size");
_Static_assert(offsetof(struct pmt_header_v1, e_machine) == 64
	       && sizeof(((struct pmt_header_v1 *)0)->e_machine) == 2,
	       "pmt_header_v1.e_machine offset and size");
_Static_assert(offsetof(struct pmt_header_v1, cpu_count) == 66
	       && sizeof(((struct pmt_header_v1 *)0)->cpu_count) == 2,
	       "pmt_header_v1.cpu_count offset and size");
_Static_assert(offsetof(struct pmt_header_v1, cpu_record_size) == 68
	       && sizeof(((struct pmt_header_v1 *)0)->cpu_record_size) == 4,
	       "pmt_header_v1.cpu_record_size offset and size");
_Static_assert(offsetof(struct pmt_header_v1, table_addr) == 72
	       && sizeof(((struct pmt_header_v1 *)0)->table_addr) == 8,
	       "pmt_header_v1.table_addr offset and size");
_Static_assert(offsetof(struct pmt_header_v1, arm_cookie) == 80
	       && sizeof(((struct pmt_header_v1 *)0)->arm_cookie) == 8,
	       "pmt_header_v1.arm_cookie offset and size");
_Static_assert(offsetof(struct pmt_header_v1, vmcoreinfo_addr) == 88
	       && sizeof(((struct pmt_header_v1 *)0)->vmcoreinfo_addr) == 8,
	       "pmt_header_v1.vmcoreinfo_addr offset and size");
_Static_assert(offsetof(struct pmt_header_v1, vmcoreinfo_size) == 96
	       && sizeof(((struct pmt_header_v1 *)0)->vmcoreinfo_size) == 8,
	       "pmt_header_v1.vmcoreinfo_size offset and size");
_Static_assert(offsetof(struct pmt_header_v1, cpu_state_addr) == 104
	       && sizeof(((struct pmt_header_v1 *)0)->cpu_state_addr) == 8,
	       "pmt_header_v1.cpu_state_addr offset and size");
_Static_assert(offsetof(struct pmt_header_v1, cpu_state_size) == 112
	       && sizeof(((struct pmt_header_v1 *)0)->cpu_state_size) == 8,
	       "pmt_header_v1.cpu_state_size offset and size");

/* entry: 32 bytes */
#define PMT_ENTRY_V1_SIZE 32
/* Firmware-owned bytes [26, 28): read as 0 by the CRC. */
#define PMT_ENTRY_FW_START 26
#define PMT_ENTRY_FW_END 28
#define PMT_ENTRY_OFF_BASE 0
#define PMT_ENTRY_OFF_SIZE 8
#define PMT_ENTRY_OFF_DEST 16
#define PMT_ENTRY_OFF_TYPE 24
#define PMT_ENTRY_OFF_FW_STATUS 26
#define PMT_ENTRY_OFF_CPU 28

struct pmt_entry_v1 {
	uint64_t base;		/* physical start */
	uint64_t size;		/* bytes */
	uint64_t dest;		/* BOOT_COPY: where firmware copies base to; else 0 */
	uint16_t type;		/* EntryType (PMT_ENTRY_*) */
	uint16_t fw_status;	/* EntryStatus (PMT_STATUS_*) [fw] */
	uint32_t cpu;		/* CRASH_NOTES: Linux CPU number; else 0 */
};

_Static_assert(sizeof(struct pmt_entry_v1) == 32,
	       "pmt_entry_v1 size");
_Static_assert(offsetof(struct pmt_entry_v1, base) == 0
	       && sizeof(((struct pmt_entry_v1 *)0)->base) == 8,
	       "pmt_entry_v1.base offset and size");
_Static_assert(offsetof(struct pmt_entry_v1, size) == 8
	       && sizeof(((struct pmt_entry_v1 *)0)->size) == 8,
	       "pmt_entry_v1.size offset and size");
_Static_assert(offsetof(struct pmt_entry_v1, dest) == 16
	       && sizeof(((struct pmt_entry_v1 *)0)->dest) == 8,
	       "pmt_entry_v1.dest offset and size");
_Static_assert(offsetof(struct pmt_entry_v1, type) == 24
	       && sizeof(((struct pmt_entry_v1 *)0)->type) == 2,
	       "pmt_entry_v1.type offset and size");
_Static_assert(offsetof(struct pmt_entry_v1, fw_status) == 26
	       && sizeof(((struct pmt_entry_v1 *)0)->fw_status) == 2,
	       "pmt_entry_v1.fw_status offset and size");
_Static_assert(offsetof(struct pmt_entry_v1, cpu) == 28
	       && sizeof(((struct pmt_entry_v1 *)0)->cpu) == 4,
	       "pmt_entry_v1.cpu offset and size");

/* cpu record: 384 bytes */
#define PMT_CPU_RECORD_V1_SIZE 384
#define PMT_CPU_RECORD_OFF_MAGIC 0
#define PMT_CPU_RECORD_OFF_VERSION 4
#define PMT_CPU_RECORD_OFF_RESERVED0 6
#define PMT_CPU_RECORD_OFF_FLAGS 8
#define PMT_CPU_RECORD_OFF_NREGS 12
#define PMT_CPU_RECORD_OFF_NSYSREGS 14
#define PMT_CPU_RECORD_OFF_CPU_ID 16
#define PMT_CPU_RECORD_OFF_TIMESTAMP 24
#define PMT_CPU_RECORD_OFF_GREGS 32
#define PMT_CPU_RECORD_OFF_SYSREGS 304
#define PMT_CPU_RECORD_OFF_RESERVED1 368

struct pmt_cpu_record_v1 {
	uint32_t magic;		/* ASCII "PCPU" (0x55504350); the OS pre-fills it */
	uint16_t version;	/* 1; the OS pre-fills it */
	uint16_t reserved0;	/* 0 */
	uint32_t flags;		/* CpuRecordFlags (PMT_CPU_*); VALID last [fw] */
	uint16_t nregs;		/* valid gregs (27 x86_64, 34 aarch64) [fw] */
	uint16_t nsysregs;	/* valid entries in sysregs [fw] */
	uint64_t cpu_id;	/* APIC id (x86) or MPIDR (arm64); the OS pre-fills it */
	uint64_t timestamp;	/* TSC or CNTVCT when the registers were saved [fw] */
	uint64_t gregs[34];	/* general registers, elf_gregset_t order [fw] */
	uint64_t sysregs[8];	/* system registers, see the register table [fw] */
	uint64_t reserved1[2];	/* 0 */
};

_Static_assert(sizeof(struct pmt_cpu_record_v1) == 384,
	       "pmt_cpu_record_v1 size");
_Static_assert(offsetof(struct pmt_cpu_record_v1, magic) == 0
	       && sizeof(((struct pmt_cpu_record_v1 *)0)->magic) == 4,
	       "pmt_cpu_record_v1.magic offset and size");
_Static_assert(offsetof(struct pmt_cpu_record_v1, version) == 4
	       && sizeof(((struct pmt_cpu_record_v1 *)0)->version) == 2,
	       "pmt_cpu_record_v1.version offset and size");
_Static_assert(offsetof(struct pmt_cpu_record_v1, reserved0) == 6
	       && sizeof(((struct pmt_cpu_record_v1 *)0)->reserved0) == 2,
	       "pmt_cpu_record_v1.reserved0 offset and size");
_Static_assert(offsetof(struct pmt_cpu_record_v1, flags) == 8
	       && sizeof(((struct pmt_cpu_record_v1 *)0)->flags) == 4,
	       "pmt_cpu_record_v1.flags offset and size");
_Static_assert(offsetof(struct pmt_cpu_record_v1, nregs) == 12
	       && sizeof(((struct pmt_cpu_record_v1 *)0)->nregs) == 2,
	       "pmt_cpu_record_v1.nregs offset and size");
_Static_assert(offsetof(struct pmt_cpu_record_v1, nsysregs) == 14
	       && sizeof(((struct pmt_cpu_record_v1 *)0)->nsysregs) == 2,
	       "pmt_cpu_record_v1.nsysregs offset and size");
_Static_assert(offsetof(struct pmt_cpu_record_v1, cpu_id) == 16
	       && sizeof(((struct pmt_cpu_record_v1 *)0)->cpu_id) == 8,
	       "pmt_cpu_record_v1.cpu_id offset and size");
_Static_assert(offsetof(struct pmt_cpu_record_v1, timestamp) == 24
	       && sizeof(((struct pmt_cpu_record_v1 *)0)->timestamp) == 8,
	       "pmt_cpu_record_v1.timestamp offset and size");
_Static_assert(offsetof(struct pmt_cpu_record_v1, gregs) == 32
	       && sizeof(((struct pmt_cpu_record_v1 *)0)->gregs) == 272,
	       "pmt_cpu_record_v1.gregs offset and size");
_Static_assert(offsetof(struct pmt_cpu_record_v1, sysregs) == 304
	       && sizeof(((struct pmt_cpu_record_v1 *)0)->sysregs) == 64,
	       "pmt_cpu_record_v1.sysregs offset and size");
_Static_assert(offsetof(struct pmt_cpu_record_v1, reserved1) == 368
	       && sizeof(((struct pmt_cpu_record_v1 *)0)->reserved1) == 16,
	       "pmt_cpu_record_v1.reserved1 offset and size");

#define LB_TAG_WARMBOOT_PMT 0x57420001u

/* coreboot PMT record: 80 bytes */
#define LB_WARMBOOT_PMT_V1_SIZE 80
#define LB_WARMBOOT_PMT_OFF_TAG 0
#define LB_WARMBOOT_PMT_OFF_SIZE 4
#define LB_WARMBOOT_PMT_OFF_ANCHOR_ADDR 8
#define LB_WARMBOOT_PMT_OFF_ANCHOR_SIZE 16
#define LB_WARMBOOT_PMT_OFF_FLAGS 20
#define LB_WARMBOOT_PMT_OFF_REJECT_REASON 24
#define LB_WARMBOOT_PMT_OFF_RESET_CAUSE 26
#define LB_WARMBOOT_PMT_OFF_REJECT_ENTRY 28
#define LB_WARMBOOT_PMT_OFF_GENERATION 32
#define LB_WARMBOOT_PMT_OFF_BOOT_WINDOW_BASE 40
#define LB_WARMBOOT_PMT_OFF_BOOT_WINDOW_SIZE 48
#define LB_WARMBOOT_PMT_OFF_COOKIE_ADDR 56
#define LB_WARMBOOT_PMT_OFF_COOKIE_KIND 64
#define LB_WARMBOOT_PMT_OFF_COOKIE_SIZE 68
#define LB_WARMBOOT_PMT_OFF_FIRMWARE_LOW_END 72

struct lb_warmboot_pmt {
	uint32_t tag;			/* LB_TAG_WARMBOOT_PMT */
	uint32_t size;			/* bytes in this record: 56 for layout 1 */
	uint64_t anchor_addr;		/* the PMT anchor: the CBMEM area the OS writes its table into */
	uint32_t anchor_size;		/* bytes in the anchor */
	uint32_t flags;			/* the table's flags as firmware left them; 0: no armed table */
	uint16_t reject_reason;		/* RejectReason, 0 when accepted */
	uint16_t reset_cause;		/* ResetCause firmware concluded for this boot */
	uint32_t reject_entry;		/* entry that broke a rule, or 0xFFFFFFFF */
	uint64_t generation;		/* generation of the table firmware processed */
	uint64_t boot_window_base;	/* memory firmware and the payload reuse every boot */
	uint64_t boot_window_size;	/* its size: the OS's BOOT_COPY source */
	uint64_t cookie_addr;		/* CMOS offset, or the reset mailbox's address */
	uint32_t cookie_kind;		/* CookieKind: 1 CMOS, 2 reset mailbox */
	uint32_t cookie_size;		/* bytes at cookie_addr: 8 (CMOS) or 16 (mailbox) */
	uint64_t firmware_low_end;	/* memory below this is firmware's on every boot */
};

_Static_assert(sizeof(struct lb_warmboot_pmt) == 80,
	       "lb_warmboot_pmt size");
_Static_assert(offsetof(struct lb_warmboot_pmt, tag) == 0
	       && sizeof(((struct lb_warmboot_pmt *)0)->tag) == 4,
	       "lb_warmboot_pmt.tag offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, size) == 4
	       && sizeof(((struct lb_warmboot_pmt *)0)->size) == 4,
	       "lb_warmboot_pmt.size offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, anchor_addr) == 8
	       && sizeof(((struct lb_warmboot_pmt *)0)->anchor_addr) == 8,
	       "lb_warmboot_pmt.anchor_addr offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, anchor_size) == 16
	       && sizeof(((struct lb_warmboot_pmt *)0)->anchor_size) == 4,
	       "lb_warmboot_pmt.anchor_size offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, flags) == 20
	       && sizeof(((struct lb_warmboot_pmt *)0)->flags) == 4,
	       "lb_warmboot_pmt.flags offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, reject_reason) == 24
	       && sizeof(((struct lb_warmboot_pmt *)0)->reject_reason) == 2,
	       "lb_warmboot_pmt.reject_reason offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, reset_cause) == 26
	       && sizeof(((struct lb_warmboot_pmt *)0)->reset_cause) == 2,
	       "lb_warmboot_pmt.reset_cause offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, reject_entry) == 28
	       && sizeof(((struct lb_warmboot_pmt *)0)->reject_entry) == 4,
	       "lb_warmboot_pmt.reject_entry offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, generation) == 32
	       && sizeof(((struct lb_warmboot_pmt *)0)->generation) == 8,
	       "lb_warmboot_pmt.generation offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, boot_window_base) == 40
	       && sizeof(((struct lb_warmboot_pmt *)0)->boot_window_base) == 8,
	       "lb_warmboot_pmt.boot_window_base offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, boot_window_size) == 48
	       && sizeof(((struct lb_warmboot_pmt *)0)->boot_window_size) == 8,
	       "lb_warmboot_pmt.boot_window_size offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, cookie_addr) == 56
	       && sizeof(((struct lb_warmboot_pmt *)0)->cookie_addr) == 8,
	       "lb_warmboot_pmt.cookie_addr offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, cookie_kind) == 64
	       && sizeof(((struct lb_warmboot_pmt *)0)->cookie_kind) == 4,
	       "lb_warmboot_pmt.cookie_kind offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, cookie_size) == 68
	       && sizeof(((struct lb_warmboot_pmt *)0)->cookie_size) == 4,
	       "lb_warmboot_pmt.cookie_size offset and size");
_Static_assert(offsetof(struct lb_warmboot_pmt, firmware_low_end) == 72
	       && sizeof(((struct lb_warmboot_pmt *)0)->firmware_low_end) == 8,
	       "lb_warmboot_pmt.firmware_low_end offset and size");

/* Layout 1 of the record ended here; its readers skip the rest by size. */
#define LB_WARMBOOT_PMT_LAYOUT1_SIZE 56

/* Device-tree binding: /chosen properties, /reserved-memory nodes. */
#define PMT_DT_PRESERVED_COMPATIBLE "warmboot,preserved-memory"
#define PMT_DT_FIRMWARE_COMPATIBLE "warmboot,firmware-memory"
#define PMT_DT_ANCHOR "warmboot,anchor"
#define PMT_DT_BOOT_WINDOW "warmboot,boot-window"
#define PMT_DT_RESET_MAILBOX "warmboot,reset-mailbox"
#define PMT_DT_PMT "warmboot,pmt"
#define PMT_DT_PMT_STATUS "warmboot,pmt-status"
#define PMT_DT_PMT_STATUS_CELLS 4
#define PMT_DT_COPY_OF "warmboot,copy-of"
#define PMT_DT_PRESERVED_NODE "warmboot-preserved"
#define PMT_DT_BOOT_COPY_NODE "warmboot-boot-copy"
#define PMT_DT_PMT_NODE "warmboot-pmt"
#define PMT_DT_FIRMWARE_NODE "warmboot-firmware"

/* entry.type */
enum pmt_entry_type {
	PMT_ENTRY_PRESERVE = 1,
	PMT_ENTRY_BOOT_COPY = 2,
	PMT_ENTRY_CPU_STATE = 3,
	PMT_ENTRY_VMCOREINFO = 4,
	PMT_ENTRY_CRASH_NOTES = 5,
	PMT_ENTRY_TABLE = 6,
};

/* entry.fw_status, written by firmware */
enum pmt_entry_status {
	PMT_STATUS_NONE = 0,
	PMT_STATUS_PRESERVED = 1,
	PMT_STATUS_COPIED = 2,
	PMT_STATUS_SKIPPED = 3,
	PMT_STATUS_FAILED = 4,
};

/* header.reset_cause, written by firmware */
enum pmt_reset_cause {
	PMT_RESET_UNKNOWN = 0,
	PMT_RESET_WARM_RESET = 1,
	PMT_RESET_WATCHDOG = 2,
	PMT_RESET_OTHER = 3,
};

/* lb_warmboot_pmt.cookie_kind: where the arm cookie goes */
enum pmt_cookie_kind {
	PMT_COOKIE_NONE = 0,
	PMT_COOKIE_CMOS = 1,
	PMT_COOKIE_MAILBOX = 2,
};

/* header.reject_reason; also pmt_validate()'s result */
enum pmt_reject_reason {
	PMT_REJECT_NONE = 0,
	PMT_REJECT_BAD_MAGIC = 1,
	PMT_REJECT_BAD_VERSION = 2,
	PMT_REJECT_BAD_SIZES = 3,
	PMT_REJECT_COUNT_OVERFLOW = 4,
	PMT_REJECT_BAD_CRC = 5,
	PMT_REJECT_TOO_MANY_ENTRIES = 6,
	PMT_REJECT_STALE = 7,
	PMT_REJECT_BAD_MACHINE = 8,
	PMT_REJECT_BAD_CPU_COUNT = 9,
	PMT_REJECT_BAD_ENTRY = 10,
	PMT_REJECT_ZERO_SIZE = 11,
	PMT_REJECT_WRAP = 12,
	PMT_REJECT_UNALIGNED = 13,
	PMT_REJECT_PRESERVE_IN_FIRMWARE = 14,
	PMT_REJECT_DEST_IN_FIRMWARE = 15,
	PMT_REJECT_CPU_STATE_FORBIDDEN = 16,
	PMT_REJECT_METADATA_MISMATCH = 17,
	PMT_REJECT_TABLE_OUTSIDE_ENTRY = 18,
	PMT_REJECT_OVERLAP = 19,
	PMT_REJECT_COPY_DEST_CONFLICT = 20,
	PMT_REJECT_METADATA_OUTSIDE_PRESERVED = 21,
};

/* x86_64 gregs[] index: elf_gregset_t order */
enum pmt_x86_64_greg {
	PMT_X86_64_R15 = 0,
	PMT_X86_64_R14 = 1,
	PMT_X86_64_R13 = 2,
	PMT_X86_64_R12 = 3,
	PMT_X86_64_RBP = 4,
	PMT_X86_64_RBX = 5,
	PMT_X86_64_R11 = 6,
	PMT_X86_64_R10 = 7,
	PMT_X86_64_R9 = 8,
	PMT_X86_64_R8 = 9,
	PMT_X86_64_RAX = 10,
	PMT_X86_64_RCX = 11,
	PMT_X86_64_RDX = 12,
	PMT_X86_64_RSI = 13,
	PMT_X86_64_RDI = 14,
	PMT_X86_64_ORIG_RAX = 15,
	PMT_X86_64_RIP = 16,
	PMT_X86_64_CS = 17,
	PMT_X86_64_EFLAGS = 18,
	PMT_X86_64_RSP = 19,
	PMT_X86_64_SS = 20,
	PMT_X86_64_FS_BASE = 21,
	PMT_X86_64_GS_BASE = 22,
	PMT_X86_64_DS = 23,
	PMT_X86_64_ES = 24,
	PMT_X86_64_FS = 25,
	PMT_X86_64_GS = 26,
};

/* aarch64 gregs[] index: elf_gregset_t order */
enum pmt_aarch64_greg {
	PMT_AARCH64_X0 = 0,
	PMT_AARCH64_X1 = 1,
	PMT_AARCH64_X2 = 2,
	PMT_AARCH64_X3 = 3,
	PMT_AARCH64_X4 = 4,
	PMT_AARCH64_X5 = 5,
	PMT_AARCH64_X6 = 6,
	PMT_AARCH64_X7 = 7,
	PMT_AARCH64_X8 = 8,
	PMT_AARCH64_X9 = 9,
	PMT_AARCH64_X10 = 10,
	PMT_AARCH64_X11 = 11,
	PMT_AARCH64_X12 = 12,
	PMT_AARCH64_X13 = 13,
	PMT_AARCH64_X14 = 14,
	PMT_AARCH64_X15 = 15,
	PMT_AARCH64_X16 = 16,
	PMT_AARCH64_X17 = 17,
	PMT_AARCH64_X18 = 18,
	PMT_AARCH64_X19 = 19,
	PMT_AARCH64_X20 = 20,
	PMT_AARCH64_X21 = 21,
	PMT_AARCH64_X22 = 22,
	PMT_AARCH64_X23 = 23,
	PMT_AARCH64_X24 = 24,
	PMT_AARCH64_X25 = 25,
	PMT_AARCH64_X26 = 26,
	PMT_AARCH64_X27 = 27,
	PMT_AARCH64_X28 = 28,
	PMT_AARCH64_X29 = 29,
	PMT_AARCH64_X30 = 30,
	PMT_AARCH64_SP = 31,
	PMT_AARCH64_PC = 32,
	PMT_AARCH64_PSTATE = 33,
};

/* x86_64 sysregs[] index */
enum pmt_x86_64_sysreg {
	PMT_X86_64_SYS_CR0 = 0,
	PMT_X86_64_SYS_CR2 = 1,
	PMT_X86_64_SYS_CR3 = 2,
	PMT_X86_64_SYS_CR4 = 3,
	PMT_X86_64_SYS_EFER = 4,
	PMT_X86_64_SYS_KERNEL_GS_BASE = 5,
	PMT_X86_64_SYS_DR6 = 6,
	PMT_X86_64_SYS_DR7 = 7,
};

/* aarch64 sysregs[] index */
enum pmt_aarch64_sysreg {
	PMT_AARCH64_SYS_ESR_EL1 = 0,
	PMT_AARCH64_SYS_FAR_EL1 = 1,
	PMT_AARCH64_SYS_ELR_EL1 = 2,
	PMT_AARCH64_SYS_SPSR_EL1 = 3,
	PMT_AARCH64_SYS_SCTLR_EL1 = 4,
	PMT_AARCH64_SYS_TTBR0_EL1 = 5,
	PMT_AARCH64_SYS_TTBR1_EL1 = 6,
	PMT_AARCH64_SYS_TCR_EL1 = 7,
};

/* header.flags */
#define PMT_FLAG_ARMED (1u << 0)
#define PMT_FLAG_IN_SERVICE (1u << 1)
#define PMT_FLAG_WARM_RESET_SEEN (1u << 16)
#define PMT_FLAG_WDT_FIRED (1u << 17)
#define PMT_FLAG_COPY_DONE (1u << 18)
#define PMT_FLAG_REJECTED (1u << 19)

/* cpu record flags */
#define PMT_CPU_VALID (1u << 0)
#define PMT_CPU_FROM_SMM (1u << 1)
#define PMT_CPU_FROM_PANIC (1u << 2)

#endif /* WARMBOOT_PMT_H */
