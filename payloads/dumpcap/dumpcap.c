/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dumpcap: after a warm reset, write the crashed kernel's memory, which
 * firmware kept as the PMT asked, into OUTDIR/vmcore (ELF64 ET_CORE shaped
 * like /proc/vmcore, docs/vmcore.md). Runs in LinuxBoot on /dev/mem.
 *
 * The file is byte for byte what python/warmboot/vmcore (plan_capture +
 * write_vmcore) writes for the same memory: headers and notes are computed
 * first, then the regions are copied by one worker process per online CPU,
 * each reading its share of memory in large chunks and writing it at its
 * final offset. The file is OUTDIR/vmcore.partial until complete; a failure
 * leaves it with OUTDIR/FAILED saying what went wrong.
 *
 * dumpcap --elfcorehdr writes no file: for an OS that serves its own dump
 * (the table's IN_SERVICE flag), it writes the same headers and notes as an
 * ELF core header into firmware's anchor, right after the table, with each
 * PT_LOAD's p_offset the physical address its bytes are at now, and prints
 * the elfcorehdr=SIZE@ADDR the OS boots with (docs/crashdump.md).
 */

#define _GNU_SOURCE	/* fallocate */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "elfcore.h"
#include "firmware.h"
#include "options.h"
#include "physmem.h"
#include "pmtio.h"
#include "ranges.h"
#include "wbutil.h"

/* The common statuses (wbutil.h), then dumpcap's own. */
enum {
	EXIT_WRITTEN = WB_EXIT_OK,
	EXIT_ERROR = WB_EXIT_ERROR,	/* nothing written */
	EXIT_USAGE = WB_EXIT_USAGE,
	EXIT_NOTHING = WB_EXIT_TOOL,	/* no armed table that firmware kept: nothing written */
	EXIT_FAILED = WB_EXIT_TOOL + 1,	/* vmcore.partial and FAILED left behind */
};

enum {
	OPT_JOBS = WB_OPT_TOOL,
	OPT_CHUNK,
	OPT_ELFCOREHDR,
	OPT_INJECT,
};

#define DEFAULT_CHUNK (4u << 20)
#define DEFAULT_PAGE_SIZE 4096u
#define MAX_OBJECT_SIZE (1u << 20)	/* VMCOREINFO and crash notes are small */
#define MAX_CPU_STATE_SIZE (64u << 20)
#define MB 1e6

/* One PT_LOAD: the crashed kernel's [paddr, paddr + size), read now at source. */
struct segment {
	uint64_t paddr;
	uint64_t vaddr;
	uint64_t size;
	uint64_t source;
	uint64_t offset;	/* in the file */
};

/* Where the crashed kernel's bytes are now: BOOT_COPY sources moved to dest. */
struct crashed_memory {
	const struct wb_physmem *mem;
	struct wb_range *copies;	/* start = base, end = base + size, sorted */
	uint64_t *dest;
	size_t count;
};

struct capture {
	const struct wb_machine *machine;
	struct wb_cpu_regs *cpus;	/* the notes, in CPU order */
	unsigned int cpu_notes;
	uint8_t *vmcoreinfo_note;	/* as read; text points into it */
	const uint8_t *text;
	size_t text_len;
	uint64_t page_size;
	struct segment *segments;
	size_t segment_count;
	uint8_t *head;			/* everything before the first region */
	size_t head_size;
	uint64_t file_size;
	uint64_t data_bytes;
	unsigned int warnings;
};

/* What the copy workers share with the parent. */
struct worker_state {
	uint64_t done;
	uint64_t holes;		/* bytes of all-zero pages left as holes */
	int failed;
	char message[240];
};

struct shared {
	int abort;
	struct worker_state worker[];
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: dumpcap [OPTIONS] OUTDIR\n"
		"       dumpcap [OPTIONS] --elfcorehdr\n"
		"\n"
		"Writes OUTDIR/vmcore from the memory firmware kept for the crashed kernel\n"
		"(docs/payloads.md), then OUTDIR/summary.txt. With --elfcorehdr, writes the\n"
		"ELF core header of that memory into firmware's anchor instead and prints\n"
		"elfcorehdr=SIZE@ADDR for the OS that saves its own dump.\n"
		"\n"
		"options:\n"
		"  --jobs N        copy with N processes (default: online CPUs)\n"
		"  --chunk BYTES   bytes per read (default 4 MiB)\n"
		"  --elfcorehdr    write the ELF core header into the anchor\n"
		"  --inject FAULT  with --elfcorehdr, for validation labs: corrupt (not ELF)\n"
		"                  or outside (a region the table did not keep)\n"
		WB_PATH_USAGE
		"\n"
		"exit status: 0 written, 1 error (nothing written), 2 usage,\n"
		"             3 nothing to capture, 4 failed part-way (vmcore.partial and FAILED left)\n");
}

static void warn_capture(struct capture *c, const char *fmt, ...) WB_PRINTF(2, 3);

static void warn_capture(struct capture *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: warning: ", wb_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	c->warnings++;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the crashed kernel's memory ---- */

static void crashed_memory_init(struct crashed_memory *cm, const struct wb_physmem *mem,
				const struct wb_table *t)
{
	struct wb_ranges copies = { 0 };
	struct pmt_entry_v1 e;
	uint32_t i;
	size_t j;

	cm->mem = mem;
	for (i = 0; i < t->hdr.entry_count; i++) {
		wb_table_entry(t, i, &e);
		if (e.type == PMT_ENTRY_BOOT_COPY)
			wb_ranges_add(&copies, e.base, e.base + e.size, i);
	}
	/* Sources never overlap (rule 20), so sorting keeps them apart. */
	wb_ranges_normalize(&copies);
	cm->copies = copies.r;
	cm->count = copies.count;
	cm->dest = wb_zalloc((copies.count + 1) * sizeof(*cm->dest));
	for (j = 0; j < copies.count; j++) {
		wb_table_entry(t, copies.r[j].type, &e);
		cm->dest[j] = e.dest;
	}
}

static void crashed_memory_free(struct crashed_memory *cm)
{
	free(cm->copies);
	free(cm->dest);
}

/* Read len bytes the crashed kernel had at addr; -1 with errno. */
static int crashed_read(const struct crashed_memory *cm, uint64_t addr, uint8_t *buf,
			size_t len)
{
	while (len) {
		uint64_t source = addr, run = UINT64_MAX - addr;
		size_t i, take;

		for (i = 0; i < cm->count; i++) {
			if (addr >= cm->copies[i].start && addr < cm->copies[i].end) {
				source = cm->dest[i] + (addr - cm->copies[i].start);
				run = cm->copies[i].end - addr;
				break;
			}
			if (addr < cm->copies[i].start) {
				run = cm->copies[i].start - addr;
				break;
			}
		}
		take = run < len ? (size_t)run : len;
		if (wb_physmem_read(cm->mem, source, buf, take))
			return -1;
		addr += take;
		buf += take;
		len -= take;
	}
	return 0;
}

/* A small object of the crashed kernel, or NULL with a warning. */
static uint8_t *read_object(struct capture *c, const struct crashed_memory *cm,
			    uint64_t addr, uint64_t size, uint64_t limit, const char *what)
{
	uint8_t *buf;

	if (size > limit) {
		warn_capture(c, "%s unusable: %#llx bytes is implausibly large", what,
			     (unsigned long long)size);
		return NULL;
	}
	buf = wb_zalloc((size_t)size);
	if (crashed_read(cm, addr, buf, (size_t)size)) {
		warn_capture(c, "%s unusable: cannot read %#llx+%#llx from %s: %s", what,
			     (unsigned long long)addr, (unsigned long long)size, cm->mem->path,
			     wb_io_error());
		free(buf);
		return NULL;
	}
	return buf;
}

/* ---- the plan: what goes into the vmcore ---- */

static int plan_vmcoreinfo(struct capture *c, const struct crashed_memory *cm,
			   const struct pmt_header_v1 *h)
{
	char why[160];
	size_t i;

	if (!h->vmcoreinfo_size) {
		warn_capture(c, "the PMT has no VMCOREINFO; makedumpfile and crash need it");
		return 0;
	}
	c->vmcoreinfo_note = read_object(c, cm, h->vmcoreinfo_addr, h->vmcoreinfo_size,
					 MAX_OBJECT_SIZE, "VMCOREINFO");
	if (!c->vmcoreinfo_note)
		return 0;
	if (wb_vmcoreinfo_text(c->vmcoreinfo_note, (size_t)h->vmcoreinfo_size, &c->text,
			       &c->text_len, why, sizeof(why))) {
		warn_capture(c, "VMCOREINFO unusable: %s", why);
		c->text = NULL;
		c->text_len = 0;
		return 0;
	}
	for (i = 0; i < c->text_len; i++) {
		if (c->text[i] >= 0x80) {
			wb_err("VMCOREINFO is not ASCII text (byte %#x at %zu)", c->text[i], i);
			return -1;
		}
	}
	return 0;
}

static int plan_page_size(struct capture *c)
{
	uint64_t size = 0;

	if (wb_vmcoreinfo_number(c->text, c->text_len, "PAGESIZE", 10, &size) < 0) {
		wb_err("VMCOREINFO PAGESIZE is not a number");
		return -1;
	}
	c->page_size = size ? size : DEFAULT_PAGE_SIZE;
	return 0;
}

/* A VALID CPU_STATE record's registers; pr_pid is the CPU number + 1. */
static int record_cpu(struct capture *c, const uint8_t *r, unsigned int index,
		      struct wb_cpu_regs *cpu)
{
	uint16_t nregs = wb_get_le16(r + PMT_CPU_RECORD_OFF_NREGS);
	uint16_t nsysregs = wb_get_le16(r + PMT_CPU_RECORD_OFF_NSYSREGS);
	unsigned int i;

	if (wb_get_le32(r + PMT_CPU_RECORD_OFF_MAGIC) != PMT_CPU_RECORD_MAGIC ||
	    wb_get_le16(r + PMT_CPU_RECORD_OFF_VERSION) != PMT_CPU_RECORD_VERSION) {
		warn_capture(c, "CPU_STATE slot %u: no valid magic and version", index);
		return 0;
	}
	if (nregs > c->machine->nregs || nsysregs > PMT_MAX_SYSREGS) {
		warn_capture(c, "CPU_STATE slot %u claims %u gregs and %u sysregs", index, nregs,
			     nsysregs);
		return 0;
	}
	if (!(wb_get_le32(r + PMT_CPU_RECORD_OFF_FLAGS) & PMT_CPU_VALID))
		return 0;
	memset(cpu, 0, sizeof(*cpu));
	cpu->pid = (int32_t)(index + 1);
	for (i = 0; i < nregs; i++)
		cpu->regs[i] = wb_get_le64(r + PMT_CPU_RECORD_OFF_GREGS + 8 * i);
	return 1;
}

/*
 * CPU i's registers: its crash notes when the kernel's panic path filled
 * them (what kdump reports), else its VALID CPU_STATE record, else none.
 */
static void plan_cpus(struct capture *c, const struct crashed_memory *cm,
		      const struct wb_table *t)
{
	const struct pmt_header_v1 *h = &t->hdr;
	struct wb_cpu_regs *from_notes = wb_zalloc(h->cpu_count * sizeof(*from_notes));
	struct wb_cpu_regs *from_records = wb_zalloc(h->cpu_count * sizeof(*from_records));
	char *have = wb_zalloc(h->cpu_count), what[48], why[160];
	uint64_t area_size = (uint64_t)h->cpu_count * h->cpu_record_size;
	uint8_t *buf, *area = NULL;
	struct pmt_entry_v1 e;
	unsigned int i;
	int rc;

	for (i = 0; i < h->entry_count; i++) {
		wb_table_entry(t, i, &e);
		if (e.type != PMT_ENTRY_CRASH_NOTES)
			continue;
		snprintf(what, sizeof(what), "crash notes of cpu %u", e.cpu);
		buf = read_object(c, cm, e.base, e.size, MAX_OBJECT_SIZE, what);
		if (!buf)
			continue;
		rc = wb_crash_note_cpu(buf, (size_t)e.size, c->machine, &from_notes[e.cpu], why,
				       sizeof(why));
		if (rc < 0)
			warn_capture(c, "%s unusable: %s", what, why);
		else if (rc > 0)
			have[e.cpu] |= 1;
		free(buf);
	}
	if (h->cpu_state_size)
		area = read_object(c, cm, h->cpu_state_addr, area_size, MAX_CPU_STATE_SIZE,
				   "CPU_STATE");
	for (i = 0; area && i < h->cpu_count; i++)
		if (record_cpu(c, area + (size_t)i * h->cpu_record_size, i, &from_records[i]))
			have[i] |= 2;

	c->cpus = wb_zalloc(h->cpu_count * sizeof(*c->cpus));
	for (i = 0; i < h->cpu_count; i++) {
		if (have[i] & 1)
			c->cpus[c->cpu_notes++] = from_notes[i];
		else if (have[i] & 2)
			c->cpus[c->cpu_notes++] = from_records[i];
		else
			warn_capture(c, "cpu %u: no saved registers", i);
	}
	free(area);
	free(have);
	free(from_notes);
	free(from_records);
}

static int by_paddr(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;

	return x->paddr < y->paddr ? -1 : x->paddr > y->paddr;
}

static int plan_segments(struct capture *c, const struct wb_table *t,
			 const struct wb_direct_map *map)
{
	struct pmt_entry_v1 e;
	uint32_t i;
	size_t j;

	c->segments = wb_zalloc((t->hdr.entry_count + 1) * sizeof(*c->segments));
	for (i = 0; i < t->hdr.entry_count; i++) {
		wb_table_entry(t, i, &e);
		if (e.type != PMT_ENTRY_PRESERVE && e.type != PMT_ENTRY_BOOT_COPY)
			continue;
		if (e.fw_status == PMT_STATUS_SKIPPED || e.fw_status == PMT_STATUS_FAILED) {
			warn_capture(c, "%s %#llx+%#llx left out: firmware status %s",
				     wb_entry_type_name(e.type), (unsigned long long)e.base,
				     (unsigned long long)e.size, wb_entry_status_name(e.fw_status));
			continue;
		}
		c->segments[c->segment_count++] = (struct segment){
			.paddr = e.base,
			.vaddr = wb_direct_map_vaddr(map, e.base),
			.size = e.size,
			.source = e.type == PMT_ENTRY_BOOT_COPY ? e.dest : e.base,
		};
	}
	qsort(c->segments, c->segment_count, sizeof(*c->segments), by_paddr);
	for (j = 1; j < c->segment_count; j++) {
		const struct segment *before = &c->segments[j - 1];

		if (before->paddr + before->size > c->segments[j].paddr) {
			wb_err("regions overlap at %#llx",
			       (unsigned long long)c->segments[j].paddr);
			return -1;
		}
	}
	if (1 + c->segment_count >= WB_PN_XNUM) {
		wb_err("%zu regions do not fit e_phnum", c->segment_count);
		return -1;
	}
	return 0;
}

/* Headers and notes, and where each region's bytes go (layout_vmcore()). */
static void plan_layout(struct capture *c, uint16_t e_machine)
{
	size_t phnum = 1 + c->segment_count, notes_size = 0, at;
	uint64_t cursor;
	unsigned int i;
	size_t j;

	for (i = 0; i < c->cpu_notes; i++)
		notes_size += wb_note_size(4, c->machine->prstatus_size);
	if (c->text_len)
		notes_size += wb_note_size(10, c->text_len);
	c->head_size = WB_EHDR_SIZE + phnum * WB_PHDR_SIZE + notes_size;
	c->head = wb_zalloc(c->head_size);

	at = WB_EHDR_SIZE + phnum * WB_PHDR_SIZE;
	wb_encode_ehdr(c->head, e_machine, (uint16_t)phnum);
	wb_encode_phdr(c->head + WB_EHDR_SIZE, WB_PT_NOTE, 0, at, 0, 0, notes_size,
		       WB_NOTE_ALIGN);
	for (i = 0; i < c->cpu_notes; i++)
		at += wb_encode_prstatus_note(c->head + at, c->machine, &c->cpus[i]);
	if (c->text_len)
		at += wb_encode_note(c->head + at, "VMCOREINFO", 0, c->text, c->text_len);

	cursor = c->head_size;
	for (j = 0; j < c->segment_count; j++) {
		struct segment *s = &c->segments[j];

		/* Page-aligned and congruent to paddr, so tools may mmap() pages. */
		s->offset = (cursor + c->page_size - 1) / c->page_size * c->page_size +
			    s->paddr % c->page_size;
		cursor = s->offset + s->size;
		c->data_bytes += s->size;
		wb_encode_phdr(c->head + WB_EHDR_SIZE + (1 + j) * WB_PHDR_SIZE, WB_PT_LOAD,
			       WB_PF_RWX, s->offset, s->vaddr, s->paddr, s->size, 0);
	}
	c->file_size = cursor;
}

static int plan_capture(const struct wb_physmem *mem, const struct wb_table *t,
			struct capture *c)
{
	struct crashed_memory cm;
	struct wb_direct_map map;
	char why[160];
	int rc = -1;

	c->machine = wb_machine_of(t->hdr.e_machine);
	if (!c->machine) {
		wb_err("no vmcore support for e_machine %u", t->hdr.e_machine);
		return -1;
	}
	crashed_memory_init(&cm, mem, t);
	if (plan_vmcoreinfo(c, &cm, &t->hdr) || plan_page_size(c))
		goto out;
	if (wb_direct_map_init(&map, t->hdr.e_machine, c->text, c->text_len, why, sizeof(why))) {
		wb_err("%s", why);
		goto out;
	}
	plan_cpus(c, &cm, t);
	if (plan_segments(c, t, &map))
		goto out;
	plan_layout(c, t->hdr.e_machine);
	rc = 0;
out:
	crashed_memory_free(&cm);
	return rc;
}

/*
 * Firmware reports what it kept as reserved; memory it calls RAM was free for
 * the LinuxBoot kernel, so its bytes may no longer be the crashed kernel's.
 */
static void warn_unreserved(struct capture *c, const struct wb_firmware *fw)
{
	size_t j;
	uint32_t i;

	for (j = 0; j < c->segment_count; j++) {
		const struct segment *s = &c->segments[j];

		for (i = 0; i < fw->mem_count; i++) {
			const struct wb_fw_mem_range *m = &fw->mem[i];

			if (m->type == WB_LB_MEM_RAM && m->start < s->source + s->size &&
			    s->source < m->start + m->size) {
				warn_capture(c, "region %#llx+%#llx is RAM in firmware's memory "
					     "map: LinuxBoot may have reused it",
					     (unsigned long long)s->paddr,
					     (unsigned long long)s->size);
				break;
			}
		}
	}
}

static void capture_free(struct capture *c)
{
	free(c->cpus);
	free(c->vmcoreinfo_note);
	free(c->segments);
	free(c->head);
}

/* ---- is there anything to capture? ---- */

/* The payload's rule (docs/pmt.md): only ARMED, COPY_DONE and not REJECTED. */
static int nothing_to_capture(uint32_t flags, unsigned int reject_reason)
{
	if (flags & PMT_FLAG_REJECTED)
		fprintf(stderr, "dumpcap: nothing to capture: firmware rejected the PMT (%s); "
			"nothing was preserved\n", wb_reject_name(reject_reason));
	else if (!(flags & PMT_FLAG_ARMED))
		fprintf(stderr, "dumpcap: nothing to capture: the PMT is not armed (already "
			"captured, or never armed)\n");
	else if (!(flags & PMT_FLAG_COPY_DONE))
		fprintf(stderr, "dumpcap: nothing to capture: firmware has not processed the PMT "
			"(no COPY_DONE): its regions were not kept on this boot\n");
	else
		return 0;
	return EXIT_NOTHING;
}

/* 0: capture t; else EXIT_NOTHING or EXIT_ERROR, the reason printed. */
static int check_capturable(const struct wb_firmware *fw, const struct wb_table *t)
{
	/* Firmware's record for this boot first: it is there even for a bad table. */
	if (nothing_to_capture(fw->flags, fw->reject_reason))
		return EXIT_NOTHING;
	if (t->reject) {
		wb_err("firmware kept the table at %#llx, but it is now invalid: %s",
		       (unsigned long long)t->addr, wb_reject_name((unsigned int)t->reject));
		return EXIT_ERROR;
	}
	if (nothing_to_capture(t->hdr.flags, t->hdr.reject_reason))
		return EXIT_NOTHING;
	if (fw->generation != t->hdr.generation)
		wb_warn("firmware processed generation %llu, the anchor holds %llu",
			(unsigned long long)fw->generation, (unsigned long long)t->hdr.generation);
	return 0;
}

/* ---- copying ---- */

/* How a copy worker ends (its exit status). */
enum {
	WORKER_DONE,
	WORKER_FAILED,		/* the reason is in its message */
	WORKER_STOPPED,		/* another worker failed first */
};

/*
 * Write the chunk out and drop it from the page cache. LinuxBoot runs in the
 * boot window (tens of MiB): a dump of gigabytes would otherwise fill it with
 * clean cache, and the kexec of the OS that follows needs that memory.
 */
static void drop_written(int fd, uint64_t offset, size_t len)
{
	if (sync_file_range(fd, (off_t)offset, (off_t)len,
			    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
			    SYNC_FILE_RANGE_WAIT_AFTER) == 0)
		posix_fadvise(fd, (off_t)offset, (off_t)len, POSIX_FADV_DONTNEED);
}

/*
 * Word by word (memcpy compiles to a load and keeps the buffer's bytes from
 * being read through another type); measured faster than libc's memcmp
 * against itself shifted by one byte.
 */
static int page_is_zero(const uint8_t *p, size_t len)
{
	uint64_t w;
	size_t i;

	for (i = 0; i + sizeof(w) <= len; i += sizeof(w)) {
		memcpy(&w, p + i, sizeof(w));
		if (w)
			return 0;
	}
	for (; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

/*
 * Write buf at offset, leaving all-zero pages as holes: the file was created
 * empty and sized up front, so a hole reads back as the zeros it stands for
 * and the vmcore's bytes are unchanged. A crashed machine's never-used RAM is
 * mostly zero pages, and not writing them is most of a capture's time.
 * Returns the bytes left as holes, or -1 with errno set.
 */
static int64_t write_sparse(int fd, const uint8_t *buf, size_t len, uint64_t offset)
{
	size_t pos = 0, run_start = 0;
	int64_t holes = 0;

	while (pos < len) {
		size_t take = len - pos < WB_PAGE_SIZE ? len - pos : WB_PAGE_SIZE;

		if (page_is_zero(buf + pos, take)) {
			if (pos > run_start &&
			    wb_pwrite_all(fd, buf + run_start, pos - run_start, offset + run_start))
				return -1;
			holes += (int64_t)take;
			run_start = pos + take;
		}
		pos += take;
	}
	if (len > run_start && wb_pwrite_all(fd, buf + run_start, len - run_start,
					     offset + run_start))
		return -1;
	return holes;
}

/* Copy bytes [lo, hi) of the regions' data, concatenated in file order. */
static int copy_share(const struct capture *c, const struct wb_physmem *mem, int out,
		      uint64_t lo, uint64_t hi, size_t chunk, struct shared *sh,
		      struct worker_state *me)
{
	uint8_t *buf = malloc(chunk);
	uint64_t pos = 0, done = 0;
	int64_t holes;
	int rc = WORKER_DONE;
	size_t j;

	if (!buf) {
		snprintf(me->message, sizeof(me->message), "out of memory for a %zu-byte buffer",
			 chunk);
		return WORKER_FAILED;
	}
	for (j = 0; j < c->segment_count && pos < hi && rc == WORKER_DONE;
	     pos += c->segments[j++].size) {
		const struct segment *s = &c->segments[j];
		uint64_t off = lo > pos ? lo - pos : 0;
		uint64_t end = hi - pos < s->size ? hi - pos : s->size;

		while (off < end && rc == WORKER_DONE) {
			size_t take = end - off < chunk ? (size_t)(end - off) : chunk;

			if (__atomic_load_n(&sh->abort, __ATOMIC_RELAXED)) {
				rc = WORKER_STOPPED;
			} else if (wb_physmem_read(mem, s->source + off, buf, take)) {
				snprintf(me->message, sizeof(me->message),
					 "cannot read %#llx+%#zx (region %#llx) from %s: %s",
					 (unsigned long long)(s->source + off), take,
					 (unsigned long long)s->paddr, mem->path, wb_io_error());
				rc = WORKER_FAILED;
			} else if ((holes = write_sparse(out, buf, take, s->offset + off)) < 0) {
				snprintf(me->message, sizeof(me->message),
					 "cannot write the vmcore at offset %llu: %s",
					 (unsigned long long)(s->offset + off), strerror(errno));
				rc = WORKER_FAILED;
			} else {
				if ((size_t)holes < take)
					drop_written(out, s->offset + off, take);
				off += take;
				done += take;
				me->holes += (uint64_t)holes;
				__atomic_store_n(&me->done, done, __ATOMIC_RELAXED);
			}
		}
	}
	free(buf);
	return rc;
}

static uint64_t bytes_done(const struct shared *sh, unsigned int workers)
{
	uint64_t total = 0;
	unsigned int i;

	for (i = 0; i < workers; i++)
		total += __atomic_load_n(&sh->worker[i].done, __ATOMIC_RELAXED);
	return total;
}

/* Print the highest 10% step reached since the last call, if any. */
static void report_progress(uint64_t done, uint64_t total, unsigned int *next_tenth)
{
	unsigned int reached = total ? (unsigned int)(done * 10 / total) : 10;

	if (reached < *next_tenth)
		return;
	fprintf(stderr, "dumpcap: %3u%% (%.1f of %.1f MB)\n", reached * 10, (double)done / MB,
		(double)total / MB);
	*next_tenth = reached + 1;
}

/* Note how worker i ended; a failure stops the others. */
static void worker_ended(struct shared *sh, unsigned int i, int status)
{
	struct worker_state *w = &sh->worker[i];

	if (WIFEXITED(status) && (WEXITSTATUS(status) == WORKER_DONE ||
				  WEXITSTATUS(status) == WORKER_STOPPED))
		return;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != WORKER_FAILED)
		snprintf(w->message, sizeof(w->message), "copy worker %u died (wait status %#x)",
			 i, status);
	w->failed = 1;
	__atomic_store_n(&sh->abort, 1, __ATOMIC_RELAXED);
}

/*
 * Fork workers that each copy an equal, page-aligned share, and report
 * progress every 10%. Returns 0, or -1 with the first failure in message.
 */
static int copy_regions(const struct capture *c, const struct wb_physmem *mem, int out,
			unsigned int jobs, size_t chunk, uint64_t *copied, uint64_t *holes,
			char *message, size_t message_len)
{
	unsigned int workers = jobs, i, running = 0, next_tenth = 1;
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	size_t shared_size;
	struct shared *sh;
	pid_t *pids, pid;
	int status, rc = 0;

	if ((uint64_t)workers > c->data_bytes / chunk + 1)
		workers = (unsigned int)(c->data_bytes / chunk + 1);
	shared_size = sizeof(*sh) + workers * sizeof(sh->worker[0]);
	sh = mmap(NULL, shared_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		snprintf(message, message_len, "mmap: %s", strerror(errno));
		return -1;
	}
	pids = wb_zalloc(workers * sizeof(*pids));
	fflush(NULL);
	for (i = 0; i < workers; i++) {
		uint64_t lo = wb_align_down(c->data_bytes / workers * i, WB_PAGE_SIZE);
		uint64_t hi = i + 1 == workers ? c->data_bytes :
			      wb_align_down(c->data_bytes / workers * (i + 1), WB_PAGE_SIZE);

		pids[i] = fork();
		if (pids[i] == 0)
			_exit(copy_share(c, mem, out, lo, hi, chunk, sh, &sh->worker[i]));
		if (pids[i] < 0) {
			snprintf(sh->worker[i].message, sizeof(sh->worker[i].message), "fork: %s",
				 strerror(errno));
			sh->worker[i].failed = 1;
			__atomic_store_n(&sh->abort, 1, __ATOMIC_RELAXED);
		} else {
			running++;
		}
	}
	while (running) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid < 0 && errno != EINTR)
			break;
		for (i = 0; pid > 0 && i < workers; i++) {
			if (pids[i] == pid) {
				worker_ended(sh, i, status);
				running--;
			}
		}
		if (pid <= 0) {
			report_progress(bytes_done(sh, workers), c->data_bytes, &next_tenth);
			nanosleep(&tick, NULL);
		}
	}
	*copied = bytes_done(sh, workers);
	report_progress(*copied, c->data_bytes, &next_tenth);
	for (i = 0, *holes = 0; i < workers; i++)
		*holes += sh->worker[i].holes;
	for (i = 0; i < workers && !rc; i++) {
		if (sh->worker[i].failed) {
			snprintf(message, message_len, "%s", sh->worker[i].message);
			rc = -1;
		}
	}
	free(pids);
	munmap(sh, shared_size);
	return rc;
}

/* ---- output files ---- */

static int make_dirs(const char *dir)
{
	char *path = wb_strdup(dir), *p;
	int rc = 0;

	for (p = path + 1; ; p++) {
		if (*p == '/' || !*p) {
			char saved = *p;

			*p = '\0';
			if (mkdir(path, 0755) && errno != EEXIST) {
				wb_err("cannot create %s: %s", path, strerror(errno));
				rc = -1;
				break;
			}
			*p = saved;
			if (!saved)
				break;
		}
	}
	free(path);
	return rc;
}

static void write_failed(const char *outdir, const char *message, uint64_t written,
			 uint64_t total)
{
	char *path = wb_asprintf("%s/FAILED", outdir);
	char *text = wb_asprintf("dumpcap: capture failed: %s\n"
				 "written: %llu of %llu bytes of %s/vmcore.partial\n",
				 message, (unsigned long long)written,
				 (unsigned long long)total, outdir);

	wb_err("capture failed: %s (%llu of %llu bytes written; see %s)", message,
	       (unsigned long long)written, (unsigned long long)total, path);
	wb_write_file_atomic(path, text, strlen(text));
	free(text);
	free(path);
}

static void write_summary(const char *outdir, const char *vmcore, const struct capture *c,
			  const struct wb_table *t, double seconds, uint64_t holes)
{
	const struct pmt_header_v1 *h = &t->hdr;
	char *path = wb_asprintf("%s/summary.txt", outdir), flags[96], *text;

	text = wb_asprintf("vmcore: %s\n"
			   "machine: %s\n"
			   "cpus: %u\n"
			   "cpus_with_registers: %u\n"
			   "regions: %zu\n"
			   "bytes: %llu\n"
			   "zero_page_bytes: %llu\n"
			   "seconds: %.3f\n"
			   "MB/s: %.1f\n"
			   "generation: %llu\n"
			   "boot_count: %u\n"
			   "flags: %s\n"
			   "reset_cause: %s\n"
			   "reject_reason: %s\n"
			   "warnings: %u\n",
			   vmcore, c->machine->name, h->cpu_count, c->cpu_notes, c->segment_count,
			   (unsigned long long)c->file_size, (unsigned long long)holes, seconds,
			   (double)c->file_size / MB / seconds, (unsigned long long)h->generation,
			   h->boot_count, wb_flags_str(h->flags, flags, sizeof(flags)),
			   wb_reset_cause_name(h->reset_cause), wb_reject_name(h->reject_reason),
			   c->warnings);
	wb_write_file_atomic(path, text, strlen(text));
	free(text);
	free(path);
}

static int write_vmcore(const char *outdir, const struct wb_physmem *mem,
			const struct capture *c, const struct wb_table *t, unsigned int jobs,
			size_t chunk)
{
	char *partial = wb_asprintf("%s/vmcore.partial", outdir);
	char *final = wb_asprintf("%s/vmcore", outdir);
	char message[256];
	uint64_t copied = 0, holes = 0;
	double started = now(), seconds;
	int out, dir, rc = EXIT_ERROR;

	if (!access(final, F_OK)) {
		wb_err("%s already exists; not overwriting a capture", final);
		goto out_names;
	}
	out = open(partial, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0) {
		wb_err("cannot create %s: %s", partial, strerror(errno));
		goto out_names;
	}
	rc = EXIT_FAILED;
	fprintf(stderr, "dumpcap: writing %s: %zu regions, %.1f MB, %u CPUs with registers\n",
		final, c->segment_count, (double)c->file_size / MB, c->cpu_notes);
	/* Find out now, not after minutes of copying, if the disk is too small. */
	if (fallocate(out, 0, 0, (off_t)c->file_size) && errno != EOPNOTSUPP &&
	    errno != ENOSYS) {
		snprintf(message, sizeof(message), "cannot allocate %llu bytes for %s: %s",
			 (unsigned long long)c->file_size, partial, strerror(errno));
		write_failed(outdir, message, 0, c->file_size);
		goto out_close;
	}
	/* Sized up front: trailing zero pages stay holes (write_sparse). */
	if (ftruncate(out, (off_t)c->file_size)) {
		snprintf(message, sizeof(message), "cannot size %s to %llu bytes: %s", partial,
			 (unsigned long long)c->file_size, strerror(errno));
		write_failed(outdir, message, 0, c->file_size);
		goto out_close;
	}
	if (wb_pwrite_all(out, c->head, c->head_size, 0)) {
		snprintf(message, sizeof(message), "cannot write %s: %s", partial, strerror(errno));
		write_failed(outdir, message, 0, c->file_size);
		goto out_close;
	}
	if (copy_regions(c, mem, out, jobs, chunk, &copied, &holes, message, sizeof(message))) {
		write_failed(outdir, message, c->head_size + copied, c->file_size);
		goto out_close;
	}
	if (fsync(out) || close(out)) {
		out = -1;
		snprintf(message, sizeof(message), "cannot write %s: %s", partial, strerror(errno));
		write_failed(outdir, message, c->head_size + copied, c->file_size);
		goto out_names;
	}
	out = -1;
	if (rename(partial, final)) {
		snprintf(message, sizeof(message), "cannot rename %s: %s", partial,
			 strerror(errno));
		write_failed(outdir, message, c->file_size, c->file_size);
		goto out_names;
	}
	dir = open(outdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir >= 0) {
		fsync(dir);
		close(dir);
	}
	seconds = now() - started;
	if (seconds < 1e-6)
		seconds = 1e-6;
	write_summary(outdir, final, c, t, seconds, holes);
	fprintf(stderr, "dumpcap: %.1f MB of zero pages left as holes\n", (double)holes / MB);
	printf("warmboot: vmcore written %s %llu bytes in %.2f s (%.1f MB/s)\n", final,
	       (unsigned long long)c->file_size, seconds, (double)c->file_size / MB / seconds);
	rc = EXIT_WRITTEN;
out_close:
	if (out >= 0)
		close(out);
out_names:
	free(partial);
	free(final);
	return rc;
}

/* ---- the ELF core header for an OS that saves its own dump ---- */

/* Faults a validation lab injects into the header (--inject). */
enum inject {
	INJECT_NONE,
	INJECT_CORRUPT,		/* a header that is not ELF */
	INJECT_OUTSIDE,		/* a PT_LOAD of RAM the table did not keep */
};

/*
 * 1 MiB of RAM in firmware's map that no region covers (above the boot
 * window): memory the crashed kernel did not ask to keep. 0 if none.
 */
static uint64_t unkept_ram(const struct wb_firmware *fw, const struct capture *c)
{
	const uint64_t want = 1u << 20;
	uint64_t start, end;
	uint32_t i;
	size_t j;

	for (i = 0; i < fw->mem_count; i++) {
		if (fw->mem[i].type != WB_LB_MEM_RAM)
			continue;
		start = wb_align_up(fw->mem[i].start, want);
		end = fw->mem[i].start + fw->mem[i].size;
		if (start < fw->boot_window_base + fw->boot_window_size)
			start = wb_align_up(fw->boot_window_base + fw->boot_window_size, want);
		for (; start + want <= end; start += want) {
			for (j = 0; j < c->segment_count; j++)
				if (start < c->segments[j].source + c->segments[j].size &&
				    c->segments[j].source < start + want)
					break;
			if (j == c->segment_count)
				return start;
		}
	}
	return 0;
}

/*
 * The vmcore's headers and notes as an ELF core header in memory (what
 * kexec's crash path hands a kdump kernel): PT_NOTE points at the notes in
 * the header itself, each PT_LOAD at where its bytes are now (the copy's
 * destination for the boot window). Written after the table's pages in the
 * anchor's first half, which firmware keeps and no kernel allocates from.
 */
static int write_elfcorehdr(const struct wb_physmem *mem, const struct wb_firmware *fw,
			    const struct wb_table *t, const struct capture *c, enum inject inject)
{
	size_t phnum = 1 + c->segment_count, notes_from = WB_EHDR_SIZE + phnum * WB_PHDR_SIZE;
	size_t notes_size = c->head_size - notes_from, extra = inject == INJECT_OUTSIDE;
	size_t notes_at = notes_from + extra * WB_PHDR_SIZE, len = notes_at + notes_size;
	uint64_t at = fw->anchor_addr + wb_align_up(t->hdr.total_size, WB_PAGE_SIZE);
	uint64_t end = fw->anchor_addr + fw->anchor_size / 2, outside = 0;
	uint8_t *buf, *check;
	size_t j;
	int rc = -1;

	/*
	 * A reset without a panic (the reset button, sysrq-b) leaves no CPU
	 * registers, and a table from another boot no VMCOREINFO. Linux's
	 * vmcore cannot serve a dump without a note; this boot writes it.
	 */
	if (!notes_size) {
		wb_err("no CPU registers and no VMCOREINFO: nothing the OS's /proc/vmcore "
		       "can serve");
		return -1;
	}
	if (at > end || len > end - at) {
		wb_err("an ELF core header of %zu bytes does not fit the anchor after the table "
		       "(%#llx-%#llx)", len, (unsigned long long)at, (unsigned long long)end);
		return -1;
	}
	if (extra) {
		outside = unkept_ram(fw, c);
		if (!outside) {
			wb_err("--inject outside: no RAM outside the kept regions");
			return -1;
		}
	}
	buf = wb_zalloc(len);
	check = wb_zalloc(len);
	wb_encode_ehdr(buf, t->hdr.e_machine, (uint16_t)(phnum + extra));
	wb_encode_phdr(buf + WB_EHDR_SIZE, WB_PT_NOTE, 0, at + notes_at, 0, 0, notes_size,
		       WB_NOTE_ALIGN);
	for (j = 0; j < c->segment_count; j++) {
		const struct segment *s = &c->segments[j];

		wb_encode_phdr(buf + WB_EHDR_SIZE + (1 + j) * WB_PHDR_SIZE, WB_PT_LOAD, WB_PF_RWX,
			       s->source, s->vaddr, s->paddr, s->size, 0);
	}
	if (extra)
		wb_encode_phdr(buf + WB_EHDR_SIZE + phnum * WB_PHDR_SIZE, WB_PT_LOAD, WB_PF_RWX,
			       outside, 0, outside, 1u << 20, 0);
	memcpy(buf + notes_at, c->head + notes_from, notes_size);
	if (inject == INJECT_CORRUPT)
		buf[1] ^= 0xff;		/* "ELF" no more */
	if (inject != INJECT_NONE)
		fprintf(stderr, "dumpcap: TEST: injecting %s into the ELF core header\n",
			inject == INJECT_CORRUPT ? "a corrupt identification" :
			"a region the table did not keep");

	if (wb_physmem_write(mem, at, buf, len) || wb_physmem_read_or_err(mem, at, check, len)) {
		/* printed */
	} else if (memcmp(buf, check, len)) {
		wb_err("the ELF core header at %#llx does not read back", (unsigned long long)at);
	} else {
		fprintf(stderr, "dumpcap: ELF core header at %#llx: %zu regions, %.1f MB, "
			"%u CPUs with registers\n", (unsigned long long)at, c->segment_count,
			(double)c->data_bytes / MB, c->cpu_notes);
		printf("elfcorehdr=%zu@%#llx\n", len, (unsigned long long)at);
		rc = 0;
	}
	free(buf);
	free(check);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		WB_COMMON_LONG_OPTIONS,
		{ "jobs", required_argument, NULL, OPT_JOBS },
		{ "chunk", required_argument, NULL, OPT_CHUNK },
		{ "elfcorehdr", no_argument, NULL, OPT_ELFCOREHDR },
		{ "inject", required_argument, NULL, OPT_INJECT },
		{ NULL, 0, NULL, 0 },
	};
	struct wb_paths paths = WB_PATHS_INIT;
	struct capture capture = { 0 };
	struct wb_physmem mem;
	struct wb_firmware fw;
	struct wb_table table;
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t jobs = online > 0 ? (uint64_t)online : 1, chunk = DEFAULT_CHUNK;
	char why[256];
	enum inject inject = INJECT_NONE;
	int opt, rc, elfcorehdr = 0;

	wb_prog = "dumpcap";
	/* A file size limit must fail a write (EFBIG), not kill the capture. */
	signal(SIGXFSZ, SIG_IGN);
	while ((opt = wb_getopt(argc, argv, long_options, &paths, usage)) != -1) {
		switch (opt) {
		case OPT_JOBS:
			if (wb_parse_u64(optarg, 10, &jobs, NULL) || !jobs || jobs > 1024) {
				wb_err("--jobs %s: expected 1 to 1024", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_CHUNK:
			if (wb_memparse(optarg, &chunk, NULL) || chunk < WB_PAGE_SIZE ||
			    chunk > (1u << 30) || chunk % WB_PAGE_SIZE) {
				wb_err("--chunk %s: expected whole pages up to 1G", optarg);
				return EXIT_USAGE;
			}
			break;
		case OPT_ELFCOREHDR:
			elfcorehdr = 1;
			break;
		case OPT_INJECT:
			if (!strcmp(optarg, "corrupt")) {
				inject = INJECT_CORRUPT;
			} else if (!strcmp(optarg, "outside")) {
				inject = INJECT_OUTSIDE;
			} else {
				wb_err("--inject %s: expected corrupt or outside", optarg);
				return EXIT_USAGE;
			}
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind + !elfcorehdr != argc || (inject && !elfcorehdr)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (wb_physmem_open(&mem, paths.mem, elfcorehdr))
		return EXIT_ERROR;
	if (wb_firmware_find(&paths, &mem, &fw, why, sizeof(why))) {
		fprintf(stderr, "dumpcap: nothing to capture: %s\n", why);
		wb_physmem_close(&mem);
		return EXIT_NOTHING;
	}
	if (wb_table_read(&mem, fw.anchor_addr, fw.anchor_size, &table)) {
		wb_physmem_close(&mem);
		return EXIT_ERROR;
	}
	rc = check_capturable(&fw, &table);
	if (!rc)
		rc = plan_capture(&mem, &table, &capture) ? EXIT_ERROR : 0;
	if (!rc)
		warn_unreserved(&capture, &fw);
	if (!rc && elfcorehdr)
		rc = write_elfcorehdr(&mem, &fw, &table, &capture, inject) ? EXIT_ERROR : EXIT_WRITTEN;
	else if (!rc)
		rc = make_dirs(argv[optind]) ? EXIT_ERROR : 0;
	if (!rc && !elfcorehdr)
		rc = write_vmcore(argv[optind], &mem, &capture, &table, (unsigned int)jobs,
				  (size_t)chunk);
	capture_free(&capture);
	wb_table_free(&table);
	wb_physmem_close(&mem);
	return rc;
}
