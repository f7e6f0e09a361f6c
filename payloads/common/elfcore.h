/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The ELF64 pieces of a Linux-style vmcore, encoded explicitly little-endian
 * (docs/vmcore.md): Elf64_Ehdr, Elf64_Phdr, notes, struct elf_prstatus;
 * reading the kernel's crash notes and VMCOREINFO note; and the kernel's
 * direct map for PT_LOAD p_vaddr. Mirrors python/warmboot/vmcore/
 * elfcore.py and vmcoreinfo.py byte for byte.
 */

#ifndef WARMBOOT_ELFCORE_H
#define WARMBOOT_ELFCORE_H

#include <stddef.h>
#include <stdint.h>

#include "pmt.h"

#define WB_EHDR_SIZE 64u
#define WB_PHDR_SIZE 56u
#define WB_NHDR_SIZE 12u
#define WB_PT_LOAD 1u
#define WB_PT_NOTE 4u
#define WB_PF_RWX 7u
#define WB_NOTE_ALIGN 4u
#define WB_NT_PRSTATUS 1u
#define WB_PN_XNUM 0xffffu
#define WB_PR_PID_OFFSET 32u
#define WB_PR_CURSIG_OFFSET 12u

/* What differs between architectures in the CPU notes. */
struct wb_machine {
	uint16_t e_machine;
	const char *name;
	unsigned int nregs;			/* elf_gregset_t entries */
	unsigned int pc, sp;		/* their indices */
	size_t prstatus_size;		/* sizeof(struct elf_prstatus) */
};

/* NULL for a machine without vmcore support. */
const struct wb_machine *wb_machine_of(uint16_t e_machine);

/* One CPU's NT_PRSTATUS content. */
struct wb_cpu_regs {
	int32_t pid;
	int16_t cursig;
	uint64_t regs[PMT_MAX_GREGS];
};

void wb_encode_ehdr(uint8_t *out, uint16_t e_machine, uint16_t phnum);
void wb_encode_phdr(uint8_t *out, uint32_t type, uint32_t flags, uint64_t offset,
		    uint64_t vaddr, uint64_t paddr, uint64_t size, uint64_t align);

/* Bytes of a note with this name (without NUL) and descriptor size. */
size_t wb_note_size(size_t name_len, size_t desc_size);

/* Encode a note as append_elf_note() does into out; returns its size. */
size_t wb_encode_note(uint8_t *out, const char *name, uint32_t type, const void *desc,
		      size_t desc_size);

/* An NT_PRSTATUS "CORE" note for one CPU into out; returns its size. */
size_t wb_encode_prstatus_note(uint8_t *out, const struct wb_machine *m,
			       const struct wb_cpu_regs *cpu);

/*
 * The NT_PRSTATUS crash_save_cpu() left in a CPU's crash notes buffer.
 * Returns 1 and fills cpu, 0 when the buffer holds none (the CPU never
 * saved), or -1 with why when the note is unusable.
 */
int wb_crash_note_cpu(const uint8_t *buf, size_t len, const struct wb_machine *m,
		      struct wb_cpu_regs *cpu, char *why, size_t why_len);

/*
 * The KEY=value text inside the kernel's VMCOREINFO ELF note. Returns 0 with
 * *text pointing into note, or -1 with why.
 */
int wb_vmcoreinfo_text(const uint8_t *note, size_t len, const uint8_t **text,
		       size_t *text_len, char *why, size_t why_len);

/*
 * VMCOREINFO's NUMBER-style value for key (the last line wins, as in
 * makedumpfile): base, unless it starts with 0x. Returns 1 found, 0 absent,
 * -1 not a number.
 */
int wb_vmcoreinfo_number(const uint8_t *text, size_t len, const char *key, int base,
			 uint64_t *out);

/* PT_LOAD p_vaddr from p_paddr: the kernel's __va() for RAM, or 0. */
struct wb_direct_map {
	int kind;			/* 0: unknown, 1: x86_64 offset, 2: aarch64 */
	uint64_t page_offset;
	uint64_t phys_offset;
};

/* Build the map from VMCOREINFO; -1 with why for an unusable value. */
int wb_direct_map_init(struct wb_direct_map *map, uint16_t e_machine, const uint8_t *text,
		       size_t len, char *why, size_t why_len);
uint64_t wb_direct_map_vaddr(const struct wb_direct_map *map, uint64_t paddr);

#endif /* WARMBOOT_ELFCORE_H */
