/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer harness: the ELF note readers of the payload tools
 * (payloads/common/elfcore.c): a CPU's crash notes buffer, the VMCOREINFO
 * note, its NUMBER() values and the direct map built from them.
 * Input: u8 selector, then the bytes, in a buffer of exactly their length.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "elfcore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const keys[] = {
	"NUMBER(page_offset_base)", "NUMBER(pgtable_l5_enabled)", "NUMBER(VA_BITS)",
	"NUMBER(PHYS_OFFSET)", "OSRELEASE", "CRASHTIME", "PAGESIZE",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct wb_machine *m;
	struct wb_cpu_regs cpu;
	struct wb_direct_map map;
	const uint8_t *text;
	size_t text_len, i;
	uint8_t sel, *buf;
	uint64_t v;
	char why[160];
	int rc;

	if (size < 1)
		return 0;
	sel = data[0];
	buf = malloc(size - 1 ? size - 1 : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	size--;
	m = wb_machine_of(sel & 1 ? PMT_EM_AARCH64 : PMT_EM_X86_64);
	switch ((sel >> 1) & 3) {
	case 0:		/* a crash notes buffer */
		rc = wb_crash_note_cpu(buf, size, m, &cpu, why, sizeof(why));
		if (rc < -1 || rc > 1)
			abort();
		break;
	case 1:		/* a VMCOREINFO note */
		if (wb_vmcoreinfo_text(buf, size, &text, &text_len, why, sizeof(why)))
			break;
		if (text < buf || text_len > size || (size_t)(text - buf) > size - text_len)
			abort();
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			wb_vmcoreinfo_number(text, text_len, keys[i], (sel >> 3) & 1 ? 16 : 10, &v);
		if (!wb_direct_map_init(&map, m->e_machine, text, text_len, why, sizeof(why)))
			wb_direct_map_vaddr(&map, text_len * 4096);
		break;
	default:	/* VMCOREINFO text as it is */
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			wb_vmcoreinfo_number(buf, size, keys[i], (sel >> 3) & 1 ? 16 : 10, &v);
		if (!wb_direct_map_init(&map, m->e_machine, buf, size, why, sizeof(why)))
			wb_direct_map_vaddr(&map, size * 4096);
		break;
	}
	free(buf);
	return 0;
}
