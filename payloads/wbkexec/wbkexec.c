/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * wbkexec: boot the OS from LinuxBoot with kexec_file_load(2) and
 * reboot(LINUX_REBOOT_CMD_KEXEC).
 *
 * --restore-ram: after a capture, the memory firmware kept for the crashed
 * kernel is reserved in the e820 map LinuxBoot got, and kexec_file_load
 * passes that map on, so the OS would boot without it. wbkexec rebuilds the
 * firmware's map from /sys/firmware/memmap with every kept range (PRESERVE
 * regions and BOOT_COPY destinations, not the anchor, which is firmware's)
 * turned back into RAM, and hands it over as memmap=exactmap memmap=...
 * (Documentation/admin-guide/kernel-parameters.txt; x86 only).
 *
 * --append TEXT adds parameters to the command line, such as the
 * "elfcorehdr=SIZE@ADDR warmboot.dump" of an OS that saves its own dump.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kexec.h>
#include <linux/reboot.h>

#include "firmware.h"
#include "options.h"
#include "physmem.h"
#include "pmtio.h"
#include "ranges.h"
#include "wbutil.h"

enum {
	OPT_RESTORE_RAM = WB_OPT_TOOL,
	OPT_DRY_RUN,
	OPT_APPEND,
};

#define CMDLINE_FILE_MAX 65536u
#define MEMMAP_FILE_MAX 256u
/* x86 bzImage: setup header "HdrS" and its cmdline_size (boot protocol 2.06+). */
#define BZIMAGE_MAGIC_OFFSET 0x202
#define BZIMAGE_CMDLINE_SIZE_OFFSET 0x238
#define BZIMAGE_DEFAULT_CMDLINE_SIZE 2047u
/* kexec-bzimage64.c keeps room to append "elfcorehdr=0x...". */
#define KEXEC_ELFCOREHDR_ROOM 30u

/* e820 types (arch/x86/include/asm/e820/types.h) by their sysfs names. */
static const struct {
	const char *name;
	uint32_t type;
} e820_types[] = {
	{ "System RAM", 1 },
	{ "Reserved", 2 },
	{ "ACPI Tables", 3 },
	{ "ACPI Non-volatile Storage", 4 },
	{ "Unusable memory", 5 },
	{ "Persistent Memory", 7 },
	{ "Persistent Memory (legacy)", 12 },
	{ "Soft Reserved", 0xefffffff },
};

#define E820_RAM 1u
#define E820_RESERVED 2u
#define E820_ACPI 3u
#define E820_PRAM 12u

static void usage(FILE *out)
{
	fprintf(out,
		"usage: wbkexec [OPTIONS] KERNEL INITRD CMDLINE_FILE\n"
		"\n"
		"Boots KERNEL with INITRD (\"-\" for none) and the command line in CMDLINE_FILE\n"
		"through kexec_file_load (docs/payloads.md).\n"
		"\n"
		"options:\n"
		"  --restore-ram   give the memory firmware kept for the crash dump back to\n"
		"                  the OS as RAM (memmap=exactmap ...; x86)\n"
		"  --append TEXT   add TEXT to the command line\n"
		"  --dry-run       print the final command line and exit\n"
		WB_PATH_USAGE
		"\n"
		"exit status: does not return on success; 0 after --dry-run, 1 failed, 2 usage\n");
}

static uint32_t e820_type_of(const char *name)
{
	size_t i;

	for (i = 0; i < WB_ARRAY_SIZE(e820_types); i++)
		if (!strcmp(e820_types[i].name, name))
			return e820_types[i].type;
	return E820_RESERVED;	/* "Unknown E820 type": keep it away from the OS */
}

static char *read_trimmed(const char *path, size_t max)
{
	char *text = wb_read_text(path, max);
	size_t len;

	if (!text)
		return NULL;
	len = strlen(text);
	while (len && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\t'))
		text[--len] = '\0';
	return text;
}

static int read_memmap_entry(const char *dir, const char *name, struct wb_ranges *map)
{
	char *base = wb_asprintf("%s/%s", dir, name);
	char *start_path = wb_asprintf("%s/start", base), *end_path = wb_asprintf("%s/end", base);
	char *type_path = wb_asprintf("%s/type", base);
	char *start_text = read_trimmed(start_path, MEMMAP_FILE_MAX);
	char *end_text = read_trimmed(end_path, MEMMAP_FILE_MAX);
	char *type_text = read_trimmed(type_path, MEMMAP_FILE_MAX);
	uint64_t start, last;
	int rc = -1;

	if (!start_text || !end_text || !type_text) {
		wb_err("cannot read %s/{start,end,type}: %s", base, strerror(errno));
	} else if (wb_parse_u64(start_text, 16, &start, NULL) ||
		   wb_parse_u64(end_text, 16, &last, NULL) || last < start || last == UINT64_MAX) {
		wb_err("%s: bad range %s-%s", base, start_text, end_text);
	} else {
		/* end is inclusive in sysfs. */
		wb_ranges_add(map, start, last + 1, e820_type_of(type_text));
		rc = 0;
	}
	free(start_text);
	free(end_text);
	free(type_text);
	free(start_path);
	free(end_path);
	free(type_path);
	free(base);
	return rc;
}

/*
 * The memory map firmware gave LinuxBoot, as the kernel kept it
 * (CONFIG_FIRMWARE_MEMMAP). Returns 1, 0 when the kernel does not offer it,
 * or -1 (printed).
 */
static int read_memmap(const char *sysfs, struct wb_ranges *map)
{
	char *dir = wb_asprintf("%s/firmware/memmap", sysfs);
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		int absent = errno == ENOENT;

		if (!absent)
			wb_err("cannot read %s: %s", dir, strerror(errno));
		free(dir);
		return absent ? 0 : -1;
	}
	while (!rc && (de = readdir(d)))
		if (de->d_name[0] != '.')
			rc = read_memmap_entry(dir, de->d_name, map);
	closedir(d);
	free(dir);
	if (!rc && !map->count) {
		wb_err("%s/firmware/memmap is empty", sysfs);
		rc = -1;
	}
	return rc ? -1 : 1;
}

/*
 * The same map from the coreboot table it came from: coreboot's Linux
 * trampoline copies LB_TAG_MEMORY into e820 as is, types above 12 becoming
 * reserved; Linux treats types it does not know as reserved too.
 */
static int firmware_memmap(const struct wb_firmware *fw, struct wb_ranges *map)
{
	uint32_t i;

	if (!fw->mem_count) {
		wb_err("no memory map: no /sys/firmware/memmap (CONFIG_FIRMWARE_MEMMAP) and no "
		       "LB_TAG_MEMORY in the %s", fw->where);
		return -1;
	}
	for (i = 0; i < fw->mem_count; i++) {
		uint32_t type = fw->mem[i].type;
		size_t k;

		for (k = 0; k < WB_ARRAY_SIZE(e820_types) && e820_types[k].type != type; k++)
			;
		wb_ranges_add(map, fw->mem[i].start, fw->mem[i].start + fw->mem[i].size,
			      k < WB_ARRAY_SIZE(e820_types) ? type : E820_RESERVED);
	}
	fprintf(stderr, "wbkexec: no /sys/firmware/memmap (CONFIG_FIRMWARE_MEMMAP): using "
		"firmware's memory map from the %s\n", fw->where);
	return 0;
}

/*
 * What firmware kept this boot for the capture, which the OS gets back:
 * PRESERVE regions and BOOT_COPY destinations it did not skip, except the
 * anchor's own region. 1: ranges in kept; 0: firmware kept nothing.
 */
static int kept_ranges(const struct wb_paths *paths, struct wb_firmware *fw,
		       struct wb_ranges *kept)
{
	struct wb_physmem mem;
	struct wb_table t;
	struct pmt_entry_v1 e;
	uint64_t anchor_end;
	char why[256], flags[96];
	uint32_t i;
	int rc = -1;

	if (wb_physmem_open(&mem, paths->mem, 0))
		return -1;
	if (wb_firmware_find(paths, &mem, fw, why, sizeof(why))) {
		wb_err("%s", why);
		goto out_mem;
	}
	/* The record is firmware's word on this boot; the table may be disarmed by now. */
	if (!(fw->flags & PMT_FLAG_COPY_DONE) || fw->flags & PMT_FLAG_REJECTED) {
		fprintf(stderr, "wbkexec: firmware kept no memory this boot (flags %s)\n",
			wb_flags_str(fw->flags, flags, sizeof(flags)));
		rc = 0;
		goto out_mem;
	}
	if (wb_table_read(&mem, fw->anchor_addr, fw->anchor_size, &t))
		goto out_mem;
	if (t.reject) {
		wb_err("firmware kept memory this boot, but the table at %#llx is invalid (%s): "
		       "cannot tell which memory to give back", (unsigned long long)t.addr,
		       wb_reject_name((unsigned int)t.reject));
		goto out_table;
	}
	anchor_end = fw->anchor_addr + fw->anchor_size;
	for (i = 0; i < t.hdr.entry_count; i++) {
		wb_table_entry(&t, i, &e);
		if (e.fw_status == PMT_STATUS_SKIPPED || e.fw_status == PMT_STATUS_FAILED)
			continue;
		if (e.type == PMT_ENTRY_PRESERVE &&
		    !(e.base < anchor_end && fw->anchor_addr < e.base + e.size))
			wb_ranges_add(kept, e.base, e.base + e.size, 0);
		else if (e.type == PMT_ENTRY_BOOT_COPY)
			wb_ranges_add(kept, e.dest, e.dest + e.size, 0);
	}
	wb_ranges_normalize(kept);
	rc = 1;
out_table:
	wb_table_free(&t);
out_mem:
	wb_physmem_close(&mem);
	return rc;
}

/*
 * The firmware map with kept memory that firmware marked reserved turned
 * back into RAM; other types are left alone. Adjacent ranges of one type
 * merged. Returns the bytes given back.
 */
static uint64_t restore_ram(const struct wb_ranges *map, const struct wb_ranges *kept,
			    struct wb_ranges *out)
{
	uint64_t restored = 0;
	size_t i, k;

	for (i = 0; i < map->count; i++) {
		const struct wb_range *m = &map->r[i];
		struct wb_ranges rest = { 0 };

		if (m->type != E820_RESERVED) {
			wb_ranges_add(out, m->start, m->end, m->type);
			continue;
		}
		wb_ranges_add(&rest, m->start, m->end, m->type);
		for (k = 0; k < kept->count; k++) {
			uint64_t lo = m->start > kept->r[k].start ? m->start : kept->r[k].start;
			uint64_t hi = m->end < kept->r[k].end ? m->end : kept->r[k].end;

			if (lo >= hi)
				continue;
			wb_ranges_add(out, lo, hi, E820_RAM);
			wb_ranges_subtract(&rest, lo, hi);
			restored += hi - lo;
		}
		for (k = 0; k < rest.count; k++)
			wb_ranges_add(out, rest.r[k].start, rest.r[k].end, rest.r[k].type);
		wb_ranges_free(&rest);
	}
	wb_ranges_normalize(out);
	return restored;
}

/* memmap=exactmap, then one memmap= per range in the kernel's syntax. */
static char *memmap_options(const struct wb_ranges *map)
{
	/* The types with a memmap= operator of their own (parse_memmap_one()). */
	static const struct {
		uint32_t type;
		char op;
	} ops[] = {
		{ E820_RAM, '@' }, { E820_RESERVED, '$' }, { E820_ACPI, '#' }, { E820_PRAM, '!' },
	};
	char *out = wb_strdup("memmap=exactmap"), *more;
	size_t i, k;

	for (i = 0; i < map->count; i++) {
		unsigned long long start = map->r[i].start, size = map->r[i].end - map->r[i].start;

		for (k = 0; k < WB_ARRAY_SIZE(ops) && ops[k].type != map->r[i].type; k++)
			;
		if (k < WB_ARRAY_SIZE(ops))
			more = wb_asprintf("%s memmap=%#llx%c%#llx", out, size, ops[k].op, start);
		else	/* SIZE%START+TYPE adds a range of any e820 type. */
			more = wb_asprintf("%s memmap=%#llx%%%#llx+%#x", out, size, start,
					   map->r[i].type);
		free(out);
		out = more;
	}
	return out;
}

static int has_option(const char *cmdline, const char *prefix)
{
	const char *p;

	for (p = strstr(cmdline, prefix); p; p = strstr(p + 1, prefix))
		if (p == cmdline || p[-1] == ' ')
			return 1;
	return 0;
}

static char *build_cmdline(const struct wb_paths *paths, const char *file, int restore,
			   const char *append)
{
	struct wb_ranges kept = { 0 }, map = { 0 }, restored = { 0 };
	struct wb_firmware fw;
	char *base = read_trimmed(file, CMDLINE_FILE_MAX), *memmap, *cmdline = NULL, *p;
	uint64_t bytes;
	int rc;

	if (!base) {
		wb_err("cannot read %s: %s", file, strerror(errno));
		return NULL;
	}
	if (append && *append) {
		p = wb_asprintf("%s%s%s", base, *base ? " " : "", append);
		free(base);
		base = p;
	}
	for (p = base; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	if (!restore)
		return base;
	rc = kept_ranges(paths, &fw, &kept);
	if (rc == 0)
		return base;
#if !defined(__x86_64__)
	/*
	 * kexec_file_load hands the OS this kernel's device tree, with
	 * firmware's reservations; LinuxBoot resets instead (init).
	 */
	if (rc > 0)
		wb_err("--restore-ram: firmware kept memory this boot, and giving it back "
		       "needs memmap= (x86); reset to boot the OS with all of its memory");
	wb_ranges_free(&kept);
	free(base);
	return NULL;
#endif
	if (rc > 0)
		rc = read_memmap(paths->sysfs, &map);
	if (rc == 0)
		rc = firmware_memmap(&fw, &map);
	if (rc >= 0) {
		bytes = restore_ram(&map, &kept, &restored);
		if (has_option(base, "memmap="))
			wb_warn("memmap=exactmap overrides the memmap= options of %s", file);
		memmap = memmap_options(&restored);
		cmdline = wb_asprintf("%s%s%s", base, *base ? " " : "", memmap);
		free(memmap);
		fprintf(stderr, "wbkexec: giving %.1f MiB of preserved memory back to the OS\n",
			(double)bytes / (1024.0 * 1024.0));
	}
	wb_ranges_free(&kept);
	wb_ranges_free(&map);
	wb_ranges_free(&restored);
	free(base);
	return cmdline;
}

/* How long a command line the kernel takes, from its bzImage setup header. */
static uint32_t cmdline_limit(int kernel_fd)
{
	uint8_t magic[4], size[4];

	if (!wb_pread_all(kernel_fd, magic, 4, BZIMAGE_MAGIC_OFFSET) && !memcmp(magic, "HdrS", 4) &&
	    !wb_pread_all(kernel_fd, size, 4, BZIMAGE_CMDLINE_SIZE_OFFSET) && wb_get_le32(size))
		return wb_get_le32(size);
	return BZIMAGE_DEFAULT_CMDLINE_SIZE;
}

static const char *kexec_error(int err)
{
	switch (err) {
	case ENOSYS:
		return "kexec_file_load is not available (kernel needs CONFIG_KEXEC_FILE)";
	case EPERM:
		return "not permitted (needs CAP_SYS_BOOT; kexec may be disabled by "
		       "kernel.kexec_load_disabled or lockdown)";
	case ENOEXEC:
		return "not a kernel image this kernel can load (x86: a 64-bit bzImage)";
	case EKEYREJECTED:
	case EBADMSG:
		return "signature verification failed";
	default:
		return strerror(err);
	}
}

static int open_input(const char *path, const char *what)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		wb_err("cannot open the %s %s: %s", what, path, strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option long_options[] = {
		WB_COMMON_LONG_OPTIONS,
		{ "restore-ram", no_argument, NULL, OPT_RESTORE_RAM },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ NULL, 0, NULL, 0 },
	};
	struct wb_paths paths = WB_PATHS_INIT;
	const char *kernel, *initrd, *append = NULL;
	int restore = 0, dry_run = 0, opt, kernel_fd, initrd_fd = -1, rc = 1;
	unsigned long flags = 0;
	char *cmdline;
	size_t len;

	wb_prog = "wbkexec";
	while ((opt = wb_getopt(argc, argv, long_options, &paths, usage)) != -1) {
		switch (opt) {
		case OPT_RESTORE_RAM:
			restore = 1;
			break;
		case OPT_DRY_RUN:
			dry_run = 1;
			break;
		case OPT_APPEND:
			append = optarg;
			break;
		default:
			return WB_EXIT_USAGE;
		}
	}
	if (optind + 3 != argc) {
		usage(stderr);
		return WB_EXIT_USAGE;
	}
	kernel = argv[optind];
	initrd = argv[optind + 1];
	kernel_fd = open_input(kernel, "kernel");
	if (kernel_fd < 0)
		return WB_EXIT_ERROR;
	if (!*initrd || !strcmp(initrd, "-")) {
		flags |= KEXEC_FILE_NO_INITRAMFS;
	} else {
		initrd_fd = open_input(initrd, "initrd");
		if (initrd_fd < 0)
			goto out_kernel;
	}
	cmdline = build_cmdline(&paths, argv[optind + 2], restore, append);
	if (!cmdline)
		goto out_initrd;
	len = strlen(cmdline) + 1;
	if (len + KEXEC_ELFCOREHDR_ROOM > cmdline_limit(kernel_fd)) {
		wb_err("the command line is %zu bytes; %s takes %u, less %u kexec keeps free", len,
		       kernel, cmdline_limit(kernel_fd), KEXEC_ELFCOREHDR_ROOM);
		goto out_cmdline;
	}
	printf("%s\n", cmdline);
	fflush(stdout);
	if (dry_run) {
		rc = 0;
		goto out_cmdline;
	}
	fprintf(stderr, "wbkexec: loading %s%s%s\n", kernel, initrd_fd >= 0 ? " with " : "",
		initrd_fd >= 0 ? initrd : "");
	if (syscall(SYS_kexec_file_load, kernel_fd, initrd_fd, len, cmdline, flags)) {
		wb_err("kexec_file_load %s: %s", kernel, kexec_error(errno));
		goto out_cmdline;
	}
	/* The vmcore's file system must be on disk before the jump. */
	sync();
	syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_KEXEC,
		NULL);
	wb_err("reboot(LINUX_REBOOT_CMD_KEXEC): %s", strerror(errno));
out_cmdline:
	free(cmdline);
out_initrd:
	if (initrd_fd >= 0)
		close(initrd_fd);
out_kernel:
	close(kernel_fd);
	return rc;
}
