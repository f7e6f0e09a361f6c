/* SPDX-License-Identifier: GPL-2.0-only */
/* ELF64 core pieces and VMCOREINFO; see elfcore.h. */

#include <stdio.h>
#include <string.h>

#include "elfcore.h"
#include "wbutil.h"

/* arch/x86/include/asm/page_64_types.h: the unrandomized direct map. */
#define X86_64_PAGE_OFFSET_L4 0xffff888000000000ull
#define X86_64_PAGE_OFFSET_L5 0xff11000000000000ull

static const struct wb_machine machines[] = {
	/* struct user_regs_struct: rip 16, rsp 19; 336-byte elf_prstatus */
	{ PMT_EM_X86_64, "x86_64", PMT_X86_64_NREGS, PMT_X86_64_RIP, PMT_X86_64_RSP, 336 },
	/* struct user_pt_regs: sp 31, pc 32; 392-byte elf_prstatus */
	{ PMT_EM_AARCH64, "aarch64", PMT_AARCH64_NREGS, PMT_AARCH64_PC, PMT_AARCH64_SP, 392 },
};

const struct wb_machine *wb_machine_of(uint16_t e_machine)
{
	size_t i;

	for (i = 0; i < WB_ARRAY_SIZE(machines); i++)
		if (machines[i].e_machine == e_machine)
			return &machines[i];
	return NULL;
}

void wb_encode_ehdr(uint8_t *out, uint16_t e_machine, uint16_t phnum)
{
	static const uint8_t ident[16] = {
		0x7f, 'E', 'L', 'F',
		2,		/* ELFCLASS64 */
		1,		/* ELFDATA2LSB */
		1,		/* EV_CURRENT */
		0,		/* ELFOSABI_NONE, as the kernel writes */
	};

	memset(out, 0, WB_EHDR_SIZE);
	memcpy(out, ident, sizeof(ident));
	wb_put_le16(out + 16, 4);		/* e_type = ET_CORE */
	wb_put_le16(out + 18, e_machine);
	wb_put_le32(out + 20, 1);		/* e_version */
	wb_put_le64(out + 32, WB_EHDR_SIZE);	/* e_phoff: right after this header */
	wb_put_le16(out + 52, WB_EHDR_SIZE);	/* e_ehsize */
	wb_put_le16(out + 54, WB_PHDR_SIZE);	/* e_phentsize */
	wb_put_le16(out + 56, phnum);
}

void wb_encode_phdr(uint8_t *out, uint32_t type, uint32_t flags, uint64_t offset,
		    uint64_t vaddr, uint64_t paddr, uint64_t size, uint64_t align)
{
	wb_put_le32(out, type);
	wb_put_le32(out + 4, flags);
	wb_put_le64(out + 8, offset);
	wb_put_le64(out + 16, vaddr);
	wb_put_le64(out + 24, paddr);
	wb_put_le64(out + 32, size);		/* p_filesz */
	wb_put_le64(out + 40, size);		/* p_memsz */
	wb_put_le64(out + 48, align);
}

size_t wb_note_size(size_t name_len, size_t desc_size)
{
	return WB_NHDR_SIZE + wb_align_up(name_len + 1, WB_NOTE_ALIGN) +
	       wb_align_up(desc_size, WB_NOTE_ALIGN);
}

size_t wb_encode_note(uint8_t *out, const char *name, uint32_t type, const void *desc,
		      size_t desc_size)
{
	size_t name_len = strlen(name), size = wb_note_size(name_len, desc_size);
	uint8_t *at = out + WB_NHDR_SIZE;

	memset(out, 0, size);
	wb_put_le32(out, (uint32_t)(name_len + 1));	/* n_namesz counts the NUL */
	wb_put_le32(out + 4, (uint32_t)desc_size);
	wb_put_le32(out + 8, type);
	memcpy(at, name, name_len);
	at += wb_align_up(name_len + 1, WB_NOTE_ALIGN);
	memcpy(at, desc, desc_size);
	return size;
}

size_t wb_encode_prstatus_note(uint8_t *out, const struct wb_machine *m,
			       const struct wb_cpu_regs *cpu)
{
	uint8_t desc[512];
	unsigned int i;

	_Static_assert(sizeof(desc) >= PMT_PRSTATUS_PR_REG_OFFSET + 8 * PMT_MAX_GREGS + 8,
		       "room for the largest elf_prstatus");
	/* crash_save_cpu() fills pr_pid and pr_reg; pr_cursig may be set. */
	memset(desc, 0, sizeof(desc));
	wb_put_le16(desc + WB_PR_CURSIG_OFFSET, (uint16_t)cpu->cursig);
	wb_put_le32(desc + WB_PR_PID_OFFSET, (uint32_t)cpu->pid);
	for (i = 0; i < m->nregs; i++)
		wb_put_le64(desc + PMT_PRSTATUS_PR_REG_OFFSET + 8 * i, cpu->regs[i]);
	return wb_encode_note(out, "CORE", WB_NT_PRSTATUS, desc, m->prstatus_size);
}

/* buf[at, at + n) clipped to the buffer, like a Python slice. */
static size_t clipped(size_t len, uint64_t at, uint64_t n)
{
	if (at >= len)
		return 0;
	return n < len - at ? (size_t)n : len - (size_t)at;
}

/* Whether buf[at, at + n), trailing NULs dropped, is name. */
static int name_is(const uint8_t *buf, size_t len, uint64_t at, uint64_t n, const char *name)
{
	size_t have = clipped(len, at, n);

	while (have && buf[at + have - 1] == '\0')
		have--;
	return have == strlen(name) && !memcmp(buf + at, name, have);
}

int wb_crash_note_cpu(const uint8_t *buf, size_t len, const struct wb_machine *m,
		      struct wb_cpu_regs *cpu, char *why, size_t why_len)
{
	uint64_t off = 0;

	while (off + WB_NHDR_SIZE <= len) {
		uint32_t namesz = wb_get_le32(buf + off);
		uint32_t descsz = wb_get_le32(buf + off + 4);
		uint32_t type = wb_get_le32(buf + off + 8);
		uint64_t name_at = off + WB_NHDR_SIZE;
		uint64_t desc_at = name_at + wb_align_up(namesz, WB_NOTE_ALIGN);
		const uint8_t *desc = buf + desc_at;
		unsigned int i;

		if (namesz == 0)
			return 0;	/* final_note(): the end of the buffer's notes */
		if (clipped(len, desc_at, descsz) < descsz)
			return 0;
		if (name_is(buf, len, name_at, namesz, "CORE") && type == WB_NT_PRSTATUS) {
			if (descsz < PMT_PRSTATUS_PR_REG_OFFSET + 8 * m->nregs) {
				snprintf(why, why_len, "NT_PRSTATUS is %u bytes, %s needs %zu",
					 descsz, m->name, m->prstatus_size);
				return -1;
			}
			memset(cpu, 0, sizeof(*cpu));
			cpu->pid = (int32_t)wb_get_le32(desc + WB_PR_PID_OFFSET);
			cpu->cursig = (int16_t)wb_get_le16(desc + WB_PR_CURSIG_OFFSET);
			for (i = 0; i < m->nregs; i++)
				cpu->regs[i] = wb_get_le64(desc + PMT_PRSTATUS_PR_REG_OFFSET +
							   8 * i);
			return 1;
		}
		off = desc_at + wb_align_up(descsz, WB_NOTE_ALIGN);
	}
	return 0;
}

int wb_vmcoreinfo_text(const uint8_t *note, size_t len, const uint8_t **text,
		       size_t *text_len, char *why, size_t why_len)
{
	uint32_t namesz, descsz, type;
	uint64_t desc_at;

	if (len < WB_NHDR_SIZE) {
		snprintf(why, why_len, "VMCOREINFO note is %zu bytes, shorter than its header",
			 len);
		return -1;
	}
	namesz = wb_get_le32(note);
	descsz = wb_get_le32(note + 4);
	type = wb_get_le32(note + 8);
	desc_at = WB_NHDR_SIZE + wb_align_up(namesz, WB_NOTE_ALIGN);
	if (!name_is(note, len, WB_NHDR_SIZE, namesz, "VMCOREINFO") || type != 0) {
		snprintf(why, why_len, "not a VMCOREINFO note (type %u)", type);
		return -1;
	}
	if (desc_at + descsz > len) {
		snprintf(why, why_len, "VMCOREINFO note claims %u bytes of text, only %lld present",
			 descsz, (long long)len - (long long)desc_at);
		return -1;
	}
	*text = note + desc_at;
	*text_len = descsz;
	return 0;
}

int wb_vmcoreinfo_number(const uint8_t *text, size_t len, const char *key, int base,
			 uint64_t *out)
{
	size_t key_len = strlen(key), at = 0;
	const uint8_t *value = NULL;
	size_t value_len = 0;
	char digits[40], *start = digits;

	/* KEY=value lines; a later line wins. */
	while (at < len) {
		const uint8_t *line = text + at, *nl = memchr(line, '\n', len - at);
		size_t line_len = nl ? (size_t)(nl - line) : len - at;

		if (line_len > key_len && !memcmp(line, key, key_len) && line[key_len] == '=') {
			value = line + key_len + 1;
			value_len = line_len - key_len - 1;
		}
		at += line_len + 1;
	}
	if (!value)
		return 0;
	if (value_len >= sizeof(digits))
		return -1;
	memcpy(digits, value, value_len);
	digits[value_len] = '\0';
	while (*start == ' ' || *start == '\t')
		start++;
	/* As warmboot.vmcore.vmcoreinfo: a 0x prefix means hex whatever the key. */
	if (start[0] == '0' && (start[1] == 'x' || start[1] == 'X'))
		base = 16;
	return wb_parse_u64(start, base, out, NULL) ? -1 : 1;
}

static int number_or_say(const uint8_t *text, size_t len, const char *key, int base,
			 uint64_t *out, char *why, size_t why_len)
{
	int rc = wb_vmcoreinfo_number(text, len, key, base, out);

	if (rc < 0)
		snprintf(why, why_len, "VMCOREINFO %s is not a number", key);
	return rc;
}

int wb_direct_map_init(struct wb_direct_map *map, uint16_t e_machine, const uint8_t *text,
		       size_t len, char *why, size_t why_len)
{
	uint64_t base, l5, va_bits, phys_offset;
	int rc, rc2;

	memset(map, 0, sizeof(*map));
	if (e_machine == PMT_EM_X86_64) {
		/* Not in upstream VMCOREINFO; a kernel that knows it may add it. */
		rc = number_or_say(text, len, "NUMBER(page_offset_base)", 16, &base, why,
				   why_len);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			rc = number_or_say(text, len, "NUMBER(pgtable_l5_enabled)", 10, &l5, why,
					   why_len);
			if (rc < 0)
				return -1;
			base = rc && l5 ? X86_64_PAGE_OFFSET_L5 : X86_64_PAGE_OFFSET_L4;
		}
		map->kind = 1;
		map->page_offset = base;
	} else if (e_machine == PMT_EM_AARCH64) {
		rc = number_or_say(text, len, "NUMBER(VA_BITS)", 10, &va_bits, why, why_len);
		rc2 = number_or_say(text, len, "NUMBER(PHYS_OFFSET)", 16, &phys_offset, why,
				    why_len);
		if (rc < 0 || rc2 < 0)
			return -1;
		if (rc && rc2) {
			map->kind = 2;
			map->page_offset = va_bits >= 64 ? 0 : 0 - (1ull << va_bits);
			map->phys_offset = phys_offset;
		}
	}
	return 0;
}

uint64_t wb_direct_map_vaddr(const struct wb_direct_map *map, uint64_t paddr)
{
	switch (map->kind) {
	case 1:
		return map->page_offset + paddr;
	case 2:
		return (paddr - map->phys_offset) | map->page_offset;
	default:
		return 0;	/* makedumpfile's NOT_KV_ADDR */
	}
}
