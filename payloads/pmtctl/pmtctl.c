/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pmtctl: the running OS's side of warmboot's firmware-assisted crash dumps.
 *
 *   pmtctl arm        build the preserved-memory table (PMT) for this
 *                     kernel, write it into firmware's anchor, register its
 *                     arm cookie (CMOS, or the crash stub's reset mailbox),
 *                     and load the crash stub
 *   pmtctl status     what firmware did this boot, and the anchor's table
 *   pmtctl capture-state
 *                     the same as shell words, for the boot path's choice
 *                     between serving the dump and writing it itself
 *   pmtctl disarm     clear ARMED (recomputing the CRC) and the arm cookie
 *   pmtctl write-raw  put arbitrary bytes in the anchor (for tests)
 *
 * The anchor is a fixed 64 KiB firmware (CBMEM) area, e820-reserved so the
 * OS reaches it through /dev/mem: the table lives at its start, the
 * CPU_STATE area in its second half. docs/payloads.md has the details.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "armcookie.h"
#include "crashstub.h"
#include "firmware.h"
#include "iomem.h"
#include "options.h"
#include "oskernel.h"
#include "physmem.h"
#include "pmtio.h"
#include "ranges.h"
#include "wbutil.h"

#if defined(__x86_64__)
#define HOST_E_MACHINE PMT_EM_X86_64
#elif defined(__aarch64__)
#define HOST_E_MACHINE PMT_EM_AARCH64
#else
#error "pmtctl knows x86_64 and aarch64"
#endif

#define MAX_ANCHOR_SIZE (16u << 20)
#define MiB (1024.0 * 1024.0)

enum {
	OPT_DEST = WB_OPT_TOOL,
	OPT_CRASH_STUB,
	OPT_NO_CRASH_STUB,
};

struct arm_options {
	int has_dest;
	uint64_t dest;
	int crash_stub;		/* -1: the default (load it) */
};

/* The entries of the table being built. */
struct entries {
	struct pmt_entry_v1 *e;
	uint32_t count;
	uint32_t cap;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pmtctl [OPTIONS] arm [--dest ADDR] [--crash-stub|--no-crash-stub]\n"
		"       pmtctl [OPTIONS] status\n"
		"       pmtctl [OPTIONS] capture-state\n"
		"       pmtctl [OPTIONS] disarm\n"
		"       pmtctl [OPTIONS] write-raw FILE\n"
		"\n"
		"Registers this kernel's memory with firmware for a crash dump after a warm\n"
		"reset (docs/payloads.md).\n"
		"\n"
		"options:\n"
		"  --dest ADDR     where firmware copies the boot window (default: cma=SIZE@BASE)\n"
		"  --crash-stub    load the warm-reset crash stub (the default)\n"
		"  --no-crash-stub do not\n"
		WB_PATH_USAGE
		"\n"
		"exit status: 0 done, 1 failed (nothing registered), 2 usage\n");
}

static void add_entry(struct entries *t, uint16_t type, uint64_t base, uint64_t size,
		      uint64_t dest, uint32_t cpu)
{
	if (t->count == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 32;
		t->e = wb_realloc(t->e, t->cap * sizeof(*t->e));
	}
	t->e[t->count++] = (struct pmt_entry_v1){
		.base = base, .size = size, .dest = dest, .type = type, .cpu = cpu,
	};
}

static void describe_entry(char *buf, size_t len, const struct pmt_entry_v1 *e)
{
	snprintf(buf, len, "%s %#llx+%#llx", wb_entry_type_name(e->type),
		 (unsigned long long)e->base, (unsigned long long)e->size);
	if (e->type == PMT_ENTRY_BOOT_COPY)
		snprintf(buf + strlen(buf), len - strlen(buf), " -> %#llx",
			 (unsigned long long)e->dest);
}

/* Firmware's hand-off, with an anchor the layout convention can use. */
static int find_anchor(const struct wb_paths *paths, const struct wb_physmem *mem,
		       struct wb_firmware *fw)
{
	char why[256];

	if (wb_firmware_find(paths, mem, fw, why, sizeof(why))) {
		wb_err("%s", why);
		return -1;
	}
	if (fw->anchor_addr % WB_PAGE_SIZE || fw->anchor_size % (2 * WB_PAGE_SIZE) ||
	    !fw->anchor_size || fw->anchor_size > MAX_ANCHOR_SIZE) {
		wb_err("firmware's anchor %#llx+%#x is not a whole number of page pairs",
		       (unsigned long long)fw->anchor_addr, fw->anchor_size);
		return -1;
	}
	return 0;
}

/* The table's bytes (docs/pmt.md), CRC included. */
static void encode_table(uint8_t *buf, const struct pmt_header_v1 *h, const struct entries *t)
{
	uint32_t i;

	memcpy(buf + PMT_HEADER_OFF_MAGIC, PMT_MAGIC, PMT_MAGIC_SIZE);
	wb_put_le16(buf + PMT_HEADER_OFF_MAJOR, PMT_MAJOR);
	wb_put_le16(buf + PMT_HEADER_OFF_MINOR, PMT_MINOR);
	wb_put_le32(buf + PMT_HEADER_OFF_HEADER_SIZE, h->header_size);
	wb_put_le32(buf + PMT_HEADER_OFF_ENTRY_SIZE, h->entry_size);
	wb_put_le32(buf + PMT_HEADER_OFF_ENTRY_COUNT, h->entry_count);
	wb_put_le32(buf + PMT_HEADER_OFF_TOTAL_SIZE, h->total_size);
	wb_put_le64(buf + PMT_HEADER_OFF_GENERATION, h->generation);
	wb_put_le32(buf + PMT_HEADER_OFF_FLAGS, h->flags);
	/* Firmware-owned fields start at zero on every registration. */
	wb_put_le16(buf + PMT_HEADER_OFF_E_MACHINE, h->e_machine);
	wb_put_le16(buf + PMT_HEADER_OFF_CPU_COUNT, h->cpu_count);
	wb_put_le32(buf + PMT_HEADER_OFF_CPU_RECORD_SIZE, h->cpu_record_size);
	wb_put_le64(buf + PMT_HEADER_OFF_TABLE_ADDR, h->table_addr);
	wb_put_le64(buf + PMT_HEADER_OFF_ARM_COOKIE, h->arm_cookie);
	wb_put_le64(buf + PMT_HEADER_OFF_VMCOREINFO_ADDR, h->vmcoreinfo_addr);
	wb_put_le64(buf + PMT_HEADER_OFF_VMCOREINFO_SIZE, h->vmcoreinfo_size);
	wb_put_le64(buf + PMT_HEADER_OFF_CPU_STATE_ADDR, h->cpu_state_addr);
	wb_put_le64(buf + PMT_HEADER_OFF_CPU_STATE_SIZE, h->cpu_state_size);
	for (i = 0; i < t->count; i++) {
		uint8_t *p = buf + h->header_size + (size_t)i * h->entry_size;

		wb_put_le64(p + PMT_ENTRY_OFF_BASE, t->e[i].base);
		wb_put_le64(p + PMT_ENTRY_OFF_SIZE, t->e[i].size);
		wb_put_le64(p + PMT_ENTRY_OFF_DEST, t->e[i].dest);
		wb_put_le16(p + PMT_ENTRY_OFF_TYPE, t->e[i].type);
		wb_put_le32(p + PMT_ENTRY_OFF_CPU, t->e[i].cpu);
	}
	wb_table_seal(buf);
}

/* The OS pre-fills each slot so the SMM handler finds its own by cpu_id. */
static void encode_cpu_records(uint8_t *area, const struct os_kernel *k)
{
	unsigned int i;

	for (i = 0; i < k->cpu_count; i++) {
		uint8_t *r = area + (size_t)i * PMT_CPU_RECORD_V1_SIZE;

		wb_put_le32(r + PMT_CPU_RECORD_OFF_MAGIC, PMT_CPU_RECORD_MAGIC);
		wb_put_le16(r + PMT_CPU_RECORD_OFF_VERSION, PMT_CPU_RECORD_VERSION);
		wb_put_le64(r + PMT_CPU_RECORD_OFF_CPU_ID, k->cpu[i].cpu_id);
	}
}

static int random_cookie(uint64_t *cookie)
{
	uint8_t bytes[8];

	do {
		if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes)) {
			wb_err("getrandom: %s", strerror(errno));
			return -1;
		}
		*cookie = wb_get_le64(bytes);
	} while (!*cookie);
	return 0;
}

static int overlaps(uint64_t a, uint64_t a_size, uint64_t b, uint64_t b_size)
{
	return a < b + b_size && b < a + a_size;
}

/* Where firmware copies the boot window, checked against this kernel's memory. */
static int choose_dest(const struct wb_paths *paths, const struct arm_options *opt,
		       const struct wb_firmware *fw, const struct iomem *io,
		       const struct wb_ranges *ram, uint64_t *dest)
{
	static const char *const kernel_image_parts[] = {
		"Kernel code", "Kernel rodata", "Kernel data", "Kernel bss",
	};
	uint64_t size = fw->boot_window_size, cma_size;
	struct wb_ranges image = { 0 };
	size_t i;
	int rc = -1;

	if (opt->has_dest) {
		*dest = opt->dest;
	} else {
		if (os_cma_area(paths->cmdline, dest, &cma_size))
			return -1;
		if (cma_size < size) {
			wb_err("cma= reserves %#llx bytes, the boot window needs %#llx",
			       (unsigned long long)cma_size, (unsigned long long)size);
			return -1;
		}
	}
	for (i = 0; i < WB_ARRAY_SIZE(kernel_image_parts); i++)
		iomem_find(io, kernel_image_parts[i], 0, &image);
	if (*dest % WB_PAGE_SIZE) {
		wb_err("dest %#llx is not page-aligned", (unsigned long long)*dest);
	} else if (*dest < fw->firmware_low_end) {
		wb_err("dest %#llx is below %#llx, which firmware reuses on every boot",
		       (unsigned long long)*dest, (unsigned long long)fw->firmware_low_end);
	} else if (*dest + size < *dest || !wb_ranges_contain(ram, *dest, *dest + size)) {
		wb_err("dest %#llx+%#llx is not inside one System RAM range of %s",
		       (unsigned long long)*dest, (unsigned long long)size, paths->iomem);
	} else if (overlaps(*dest, size, fw->boot_window_base, size)) {
		wb_err("dest %#llx+%#llx overlaps the boot window it receives (%#llx)",
		       (unsigned long long)*dest, (unsigned long long)size,
		       (unsigned long long)fw->boot_window_base);
	} else if (wb_ranges_overlap(&image, *dest, *dest + size)) {
		wb_err("dest %#llx+%#llx overlaps the kernel image, which the dump needs",
		       (unsigned long long)*dest, (unsigned long long)size);
	} else {
		rc = 0;
	}
	wb_ranges_free(&image);
	return rc;
}

/*
 * Every top-level System RAM range, shrunk to whole pages, without what
 * firmware reuses (the first MiB and the boot window, which is copied
 * instead), the copy's destination and the anchor; adjacent ranges merged
 * so that every object lies inside one region.
 */
static void preserved_ram(const struct wb_ranges *ram, const struct wb_firmware *fw,
			  uint64_t dest, struct wb_ranges *out)
{
	size_t i;

	for (i = 0; i < ram->count; i++)
		wb_ranges_add(out, wb_align_up(ram->r[i].start, WB_PAGE_SIZE),
			      wb_align_down(ram->r[i].end, WB_PAGE_SIZE), 0);
	wb_ranges_subtract(out, 0, fw->firmware_low_end);
	wb_ranges_subtract(out, wb_align_down(fw->boot_window_base, WB_PAGE_SIZE),
			   wb_align_up(fw->boot_window_base + fw->boot_window_size, WB_PAGE_SIZE));
	wb_ranges_subtract(out, dest, dest + fw->boot_window_size);
	wb_ranges_subtract(out, fw->anchor_addr, fw->anchor_addr + fw->anchor_size);
	wb_ranges_normalize(out);
}

/* The TABLE entry's size is set once the table's size is known. */
static void build_entries(const struct wb_firmware *fw, const struct wb_ranges *preserve,
			  const struct os_kernel *k, uint64_t dest, struct entries *t)
{
	uint32_t half = fw->anchor_size / 2;
	unsigned int cpu;
	size_t i;

	add_entry(t, PMT_ENTRY_BOOT_COPY, fw->boot_window_base, fw->boot_window_size, dest, 0);
	for (i = 0; i < preserve->count; i++)
		add_entry(t, PMT_ENTRY_PRESERVE, preserve->r[i].start,
			  preserve->r[i].end - preserve->r[i].start, 0, 0);
	/* The anchor is firmware memory, excluded from its own checks. */
	add_entry(t, PMT_ENTRY_PRESERVE, fw->anchor_addr, fw->anchor_size, 0, 0);
	add_entry(t, PMT_ENTRY_TABLE, fw->anchor_addr, 0, 0, 0);
	add_entry(t, PMT_ENTRY_CPU_STATE, fw->anchor_addr + half, half, 0, 0);
	add_entry(t, PMT_ENTRY_VMCOREINFO, k->vmcoreinfo_addr, k->vmcoreinfo_size, 0, 0);
	for (cpu = 0; cpu < k->cpu_count; cpu++)
		if (k->cpu[cpu].has_notes)
			add_entry(t, PMT_ENTRY_CRASH_NOTES, k->cpu[cpu].notes_addr,
				  k->cpu[cpu].notes_size, 0, cpu);
}

/* Write the table half then the CPU_STATE half, and read both back. */
static int write_anchor(const struct wb_physmem *mem, uint64_t addr, const uint8_t *bytes,
			size_t len)
{
	uint8_t *check = wb_zalloc(len);
	size_t half = len / 2;
	int rc = -1;

	if (wb_physmem_write(mem, addr, bytes, half) ||
	    wb_physmem_write(mem, addr + half, bytes + half, len - half) ||
	    wb_physmem_read_or_err(mem, addr, check, len)) {
		/* messages printed */
	} else if (memcmp(check, bytes, len)) {
		wb_err("the anchor at %#llx does not read back what was written to it "
		       "(is it really reserved memory?)", (unsigned long long)addr);
	} else {
		rc = 0;
	}
	free(check);
	return rc;
}

/* 1: load the stub (the default on every architecture), 0: do not. */
static int want_crash_stub(const struct arm_options *opt)
{
	return opt->crash_stub != 0;
}

static int cmd_arm(const struct wb_paths *paths, const struct arm_options *opt)
{
	struct wb_ranges ram = { 0 }, preserve = { 0 };
	struct entries entries = { 0 };
	struct pmt_header_v1 h = { 0 };
	struct wb_physmem mem;
	struct wb_firmware fw;
	struct wb_table previous;
	struct os_kernel k;
	struct iomem io;
	struct pmt_range low_memory = { 0, 0 };
	struct pmt_limits lim = {
		.max_entries = PMT_DEFAULT_MAX_ENTRIES,
		.max_cpus = PMT_DEFAULT_MAX_CPUS,
		.fw_ranges = &low_memory,
		.fw_range_count = 0,
	};
	struct pmt_decoded dec;
	struct crashstub_reset reset = { 0 };
	uint64_t dest = 0, stub = 0;
	uint8_t *anchor = NULL;
	uint32_t half, i;
	int stub_wanted = want_crash_stub(opt), rc = WB_EXIT_ERROR, reason;
	char what[96];

	if (stub_wanted < 0 || wb_physmem_open(&mem, paths->mem, 1))
		return WB_EXIT_ERROR;
	if (find_anchor(paths, &mem, &fw) || iomem_read(paths->iomem, &io)) {
		wb_physmem_close(&mem);
		return WB_EXIT_ERROR;
	}
	/* Refuse what firmware would: nothing preserved in its low memory. */
	if (fw.firmware_low_end) {
		low_memory.size = fw.firmware_low_end;
		lim.fw_range_count = 1;
	}
	if (os_kernel_read(paths, &k))
		goto out_iomem;
	half = fw.anchor_size / 2;
	iomem_find(&io, "System RAM", 1, &ram);
	if (!fw.boot_window_size || fw.boot_window_base % WB_PAGE_SIZE ||
	    fw.boot_window_size % WB_PAGE_SIZE) {
		wb_err("firmware's boot window %#llx+%#llx is not whole pages",
		       (unsigned long long)fw.boot_window_base,
		       (unsigned long long)fw.boot_window_size);
		goto out;
	}
	if (choose_dest(paths, opt, &fw, &io, &ram, &dest))
		goto out;
	if (stub_wanted && crashstub_place(&io, paths->iomem, &stub))
		goto out;
	if ((uint64_t)k.cpu_count * PMT_CPU_RECORD_V1_SIZE > half) {
		wb_err("%u possible CPUs need %u bytes of CPU_STATE; the anchor has %u",
		       k.cpu_count, k.cpu_count * PMT_CPU_RECORD_V1_SIZE, half);
		goto out;
	}

	if (wb_table_read(&mem, fw.anchor_addr, fw.anchor_size, &previous))
		goto out;
	h.generation = previous.reject ? 1 : previous.hdr.generation + 1;
	wb_table_free(&previous);

	preserved_ram(&ram, &fw, dest, &preserve);
	build_entries(&fw, &preserve, &k, dest, &entries);
	h.header_size = PMT_HEADER_V1_SIZE;
	h.entry_size = PMT_ENTRY_V1_SIZE;
	h.entry_count = entries.count;
	h.total_size = h.header_size + h.entry_count * h.entry_size;
	for (i = 0; i < entries.count; i++)
		if (entries.e[i].type == PMT_ENTRY_TABLE)
			entries.e[i].size = wb_align_up(h.total_size, WB_PAGE_SIZE);
	if (h.total_size > half) {
		wb_err("a table of %u entries (%u bytes) does not fit in half the %u-byte anchor",
		       h.entry_count, h.total_size, fw.anchor_size);
		goto out;
	}
	h.flags = PMT_FLAG_ARMED;
	h.e_machine = HOST_E_MACHINE;
	h.cpu_count = (uint16_t)k.cpu_count;
	h.cpu_record_size = PMT_CPU_RECORD_V1_SIZE;
	h.table_addr = fw.anchor_addr;
	h.vmcoreinfo_addr = k.vmcoreinfo_addr;
	h.vmcoreinfo_size = k.vmcoreinfo_size;
	h.cpu_state_addr = fw.anchor_addr + half;
	h.cpu_state_size = half;
	if (random_cookie(&h.arm_cookie))
		goto out;

	anchor = wb_zalloc(fw.anchor_size);
	encode_table(anchor, &h, &entries);
	encode_cpu_records(anchor + half, &k);

	/* Refuse what firmware would refuse, before anything is written. */
	lim.arm_cookie = h.arm_cookie;
	reason = pmt_validate(anchor, h.total_size, &lim, &dec);
	if (reason) {
		if (dec.bad_entry < entries.count)
			describe_entry(what, sizeof(what), &entries.e[dec.bad_entry]);
		else
			snprintf(what, sizeof(what), "the header");
		wb_err("refusing to register a table firmware would reject: %s (%s)",
		       wb_reject_name((unsigned int)reason), what);
		goto out;
	}

	if (armcookie_in_mailbox(&fw)) {
		reset.mailbox = fw.cookie_addr;
		reset.cookie = h.arm_cookie;
		reset.use_hvc = wb_dt_psci_uses_hvc(paths->sysfs);
	}
	if (stub_wanted && crashstub_load(stub, &reset))
		goto out;
	if (write_anchor(&mem, fw.anchor_addr, anchor, fw.anchor_size) ||
	    armcookie_arm(paths, &mem, &fw, h.arm_cookie)) {
		if (stub_wanted)
			crashstub_unload();
		goto out;
	}
	if (stub_wanted)
		snprintf(what, sizeof(what), "crash stub at %#llx", (unsigned long long)stub);
	else
		snprintf(what, sizeof(what), "no crash stub");
	printf("pmtctl: armed generation %llu, cookie %#018llx: %zu regions, %.1f MiB preserved "
	       "(boot window %#llx+%#llx -> %#llx), %u CPUs, %s\n",
	       (unsigned long long)h.generation, (unsigned long long)h.arm_cookie,
	       preserve.count + 2,
	       (double)(wb_ranges_bytes(&preserve) + fw.anchor_size + fw.boot_window_size) / MiB,
	       (unsigned long long)fw.boot_window_base, (unsigned long long)fw.boot_window_size,
	       (unsigned long long)dest, k.cpu_count, what);
	rc = WB_EXIT_OK;
out:
	free(anchor);
	free(entries.e);
	wb_ranges_free(&ram);
	wb_ranges_free(&preserve);
	os_kernel_free(&k);
out_iomem:
	iomem_free(&io);
	wb_physmem_close(&mem);
	return rc;
}

/* "none" for PMT_NO_ENTRY, else the number, in buf. */
static const char *entry_index(uint32_t entry, char *buf)
{
	if (entry == PMT_NO_ENTRY)
		return "none";
	snprintf(buf, 12, "%u", entry);
	return buf;
}

static void print_table(const struct wb_table *t)
{
	const struct pmt_header_v1 *h = &t->hdr;
	struct pmt_entry_v1 e;
	char flags[96], index[12];
	uint32_t i;

	if (t->reject) {
		printf("table at %#llx: invalid: %s", (unsigned long long)t->addr,
		       wb_reject_name((unsigned int)t->reject));
		if (t->bad_entry != PMT_NO_ENTRY)
			printf(" (entry %u)", t->bad_entry);
		printf("\n");
		return;
	}
	printf("table at %#llx: valid, generation %llu, flags %s, cookie %#llx\n",
	       (unsigned long long)t->addr, (unsigned long long)h->generation,
	       wb_flags_str(h->flags, flags, sizeof(flags)), (unsigned long long)h->arm_cookie);
	printf("  firmware: reject %s, entry %s, reset %s, boot_count %u\n",
	       wb_reject_name(h->reject_reason), entry_index(h->reject_entry, index),
	       wb_reset_cause_name(h->reset_cause), h->boot_count);
	printf("  e_machine %u, %u CPUs, %u entries, %u bytes\n", h->e_machine, h->cpu_count,
	       h->entry_count, h->total_size);
	printf("  %3s  %-11s %-18s %-18s %-18s %4s  %s\n", "#", "type", "base", "size", "dest",
	       "cpu", "fw_status");
	for (i = 0; i < h->entry_count; i++) {
		wb_table_entry(t, i, &e);
		printf("  %3u  %-11s 0x%016llx 0x%016llx 0x%016llx %4u  %s\n", i,
		       wb_entry_type_name(e.type), (unsigned long long)e.base,
		       (unsigned long long)e.size, (unsigned long long)e.dest, e.cpu,
		       wb_entry_status_name(e.fw_status));
	}
}

static int cmd_status(const struct wb_paths *paths)
{
	struct wb_physmem mem;
	struct wb_firmware fw;
	struct wb_table t;
	uint64_t cookie;
	const char *where;
	char flags[96], index[12];
	uint32_t i;

	if (wb_physmem_open(&mem, paths->mem, 0))
		return WB_EXIT_ERROR;
	if (find_anchor(paths, &mem, &fw) || wb_table_read(&mem, fw.anchor_addr, fw.anchor_size, &t)) {
		wb_physmem_close(&mem);
		return WB_EXIT_ERROR;
	}
	printf("firmware: %s\n", fw.where);
	printf("  anchor %#llx+%#x, boot window %#llx+%#llx\n",
	       (unsigned long long)fw.anchor_addr, fw.anchor_size,
	       (unsigned long long)fw.boot_window_base, (unsigned long long)fw.boot_window_size);
	printf("  this boot: flags %s, reject %s, entry %s, reset %s, generation %llu\n",
	       wb_flags_str(fw.flags, flags, sizeof(flags)), wb_reject_name(fw.reject_reason),
	       entry_index(fw.reject_entry, index), wb_reset_cause_name(fw.reset_cause),
	       (unsigned long long)fw.generation);
	for (i = 0; i < fw.mem_count; i++)
		printf("  memory %#018llx-%#018llx %s\n", (unsigned long long)fw.mem[i].start,
		       (unsigned long long)(fw.mem[i].start + fw.mem[i].size - 1),
		       wb_lb_mem_type_name(fw.mem[i].type));
	print_table(&t);
	if (armcookie_in_mailbox(&fw))
		printf("  reset mailbox %#llx+%#x\n", (unsigned long long)fw.cookie_addr,
		       fw.cookie_size);
	if (!armcookie_read(paths, &mem, &fw, &cookie, &where))
		printf("%s %#llx%s\n", where, (unsigned long long)cookie,
		       !cookie ? " (disarmed)" :
		       !t.reject && cookie == t.hdr.arm_cookie ? " (matches the table)" :
		       " (does not match the table: firmware will not act)");
	wb_table_free(&t);
	wb_physmem_close(&mem);
	return WB_EXIT_OK;
}

/*
 * One line of shell assignments: state (none, pending, rejected or invalid),
 * the table's generation, boot_count (warm resets that processed it) and
 * in_service (1: the OS that armed it saves its own dump).
 */
static int cmd_capture_state(const struct wb_paths *paths)
{
	const uint32_t kept = PMT_FLAG_ARMED | PMT_FLAG_COPY_DONE;
	struct wb_physmem mem;
	struct wb_firmware fw;
	struct wb_table t;
	const char *state = "none";

	if (wb_physmem_open(&mem, paths->mem, 0))
		return WB_EXIT_ERROR;
	if (find_anchor(paths, &mem, &fw) || wb_table_read(&mem, fw.anchor_addr, fw.anchor_size, &t)) {
		wb_physmem_close(&mem);
		return WB_EXIT_ERROR;
	}
	if (fw.flags & PMT_FLAG_REJECTED)
		state = "rejected";
	else if ((fw.flags & kept) == kept && t.reject)
		state = "invalid";
	else if ((fw.flags & kept) == kept && (t.hdr.flags & kept) == kept &&
		 !(t.hdr.flags & PMT_FLAG_REJECTED))
		state = "pending";
	printf("state=%s generation=%llu boot_count=%u in_service=%d reset_cause=%s\n", state,
	       (unsigned long long)(t.reject ? 0 : t.hdr.generation), t.reject ? 0 : t.hdr.boot_count,
	       !t.reject && (t.hdr.flags & PMT_FLAG_IN_SERVICE) ? 1 : 0,
	       wb_reset_cause_name(fw.reset_cause));
	wb_table_free(&t);
	wb_physmem_close(&mem);
	return WB_EXIT_OK;
}

static int cmd_disarm(const struct wb_paths *paths)
{
	struct wb_physmem mem;
	struct wb_firmware fw;
	struct wb_table t, check;
	uint32_t flags;
	int rc = WB_EXIT_ERROR;

	if (wb_physmem_open(&mem, paths->mem, 1))
		return WB_EXIT_ERROR;
	if (find_anchor(paths, &mem, &fw) || wb_table_read(&mem, fw.anchor_addr, fw.anchor_size, &t)) {
		wb_physmem_close(&mem);
		return WB_EXIT_ERROR;
	}
	flags = t.reject ? 0 : t.hdr.flags;
	if (t.reject) {
		printf("pmtctl: the anchor holds no valid table (%s); nothing to disarm there\n",
		       wb_reject_name((unsigned int)t.reject));
	} else if (flags & PMT_FLAG_ARMED) {
		/* Only OS-owned bytes change; firmware's status stays. */
		wb_put_le32(t.buf + PMT_HEADER_OFF_FLAGS, flags & ~PMT_FLAG_ARMED);
		wb_table_seal(t.buf);
		if (wb_physmem_write(&mem, t.addr, t.buf, t.hdr.total_size) ||
		    wb_table_read(&mem, t.addr, t.len, &check))
			goto out;
		if (check.reject || check.hdr.flags & PMT_FLAG_ARMED) {
			wb_err("the table at %#llx is not disarmed after writing it (%s)",
			       (unsigned long long)t.addr,
			       wb_reject_name((unsigned int)check.reject));
			wb_table_free(&check);
			goto out;
		}
		wb_table_free(&check);
		printf("pmtctl: disarmed generation %llu\n", (unsigned long long)t.hdr.generation);
	} else {
		printf("pmtctl: generation %llu is already disarmed\n",
		       (unsigned long long)t.hdr.generation);
	}
	if (!armcookie_clear(paths, &mem, &fw))
		rc = 0;
out:
	wb_table_free(&t);
	wb_physmem_close(&mem);
	return rc;
}

static int cmd_write_raw(const struct wb_paths *paths, const char *file)
{
	struct wb_physmem mem;
	struct wb_firmware fw;
	uint8_t *bytes = NULL, *check = NULL;
	uint64_t cookie = 0;
	size_t len;
	int rc = WB_EXIT_ERROR;

	if (wb_physmem_open(&mem, paths->mem, 1))
		return WB_EXIT_ERROR;
	if (find_anchor(paths, &mem, &fw))
		goto out;
	bytes = wb_read_file(file, fw.anchor_size, &len);
	if (!bytes) {
		if (errno == EFBIG)
			wb_err("%s is larger than the %u-byte anchor", file, fw.anchor_size);
		else
			wb_err("cannot read %s: %s", file, strerror(errno));
		goto out;
	}
	check = wb_zalloc(len ? len : 1);
	if (wb_physmem_write(&mem, fw.anchor_addr, bytes, len) ||
	    wb_physmem_read_or_err(&mem, fw.anchor_addr, check, len))
		goto out;
	if (memcmp(check, bytes, len)) {
		wb_err("the anchor at %#llx does not read back what was written",
		       (unsigned long long)fw.anchor_addr);
		goto out;
	}
	if (len >= PMT_HEADER_OFF_ARM_COOKIE + 8)
		cookie = wb_get_le64(bytes + PMT_HEADER_OFF_ARM_COOKIE);
	if (armcookie_force(paths, &mem, &fw, cookie))
		goto out;
	printf("pmtctl: wrote %zu raw bytes at %#llx, %s cookie %#llx\n", len,
	       (unsigned long long)fw.anchor_addr,
	       armcookie_in_mailbox(&fw) ? "reset mailbox" : "CMOS", (unsigned long long)cookie);
	rc = WB_EXIT_OK;
out:
	free(bytes);
	free(check);
	wb_physmem_close(&mem);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		WB_COMMON_LONG_OPTIONS,
		{ "dest", required_argument, NULL, OPT_DEST },
		{ "crash-stub", no_argument, NULL, OPT_CRASH_STUB },
		{ "no-crash-stub", no_argument, NULL, OPT_NO_CRASH_STUB },
		{ NULL, 0, NULL, 0 },
	};
	struct wb_paths paths = WB_PATHS_INIT;
	struct arm_options arm = { .crash_stub = -1 };
	const char *command;
	int opt;

	wb_prog = "pmtctl";
	while ((opt = wb_getopt(argc, argv, long_options, &paths, usage)) != -1) {
		switch (opt) {
		case OPT_DEST:
			if (wb_parse_u64(optarg, 0, &arm.dest, NULL)) {
				wb_err("--dest %s is not an address", optarg);
				return WB_EXIT_USAGE;
			}
			arm.has_dest = 1;
			break;
		case OPT_CRASH_STUB:
			arm.crash_stub = 1;
			break;
		case OPT_NO_CRASH_STUB:
			arm.crash_stub = 0;
			break;
		default:
			return WB_EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return WB_EXIT_USAGE;
	}
	command = argv[optind++];
	if (!strcmp(command, "arm") && optind == argc)
		return cmd_arm(&paths, &arm);
	if (!strcmp(command, "status") && optind == argc)
		return cmd_status(&paths);
	if (!strcmp(command, "capture-state") && optind == argc)
		return cmd_capture_state(&paths);
	if (!strcmp(command, "disarm") && optind == argc)
		return cmd_disarm(&paths);
	if (!strcmp(command, "write-raw") && optind + 1 == argc)
		return cmd_write_raw(&paths, argv[optind]);
	usage(stderr);
	return WB_EXIT_USAGE;
}
