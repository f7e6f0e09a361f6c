/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer harness: the coreboot table reader of the payload tools
 * (payloads/common/cbtable.c, wb_cbtable_find()), on a memory image.
 *
 * Input: u8 mode, then the image of physical memory from address 0 (at
 * most 64 KiB; the 0xf0000 window then reads past its end). Mode bit 0
 * fixes both IP checksums of every "LBIO" header on a 16-byte boundary
 * whose records fit in the image, so that mutations reach the records
 * (LB_TAG_FORWARD, LB_TAG_WARMBOOT_PMT, LB_TAG_MEMORY).
 */

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* The reader itself, so that the harness seals tables with its own ip_checksum(). */
#include "../../../payloads/common/cbtable.c"

#define IMAGE_MAX 0x10000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fix_checksums(uint8_t *img, size_t len)
{
	size_t off;

	for (off = 0; off + 24 <= len; off += 16) {
		uint32_t bytes;

		if (memcmp(img + off, "LBIO", 4))
			continue;
		wb_put_le32(img + off + 4, 24);
		bytes = wb_get_le32(img + off + 12);
		if (bytes > len - off - 24) {
			bytes = (uint32_t)(len - off - 24);
			wb_put_le32(img + off + 12, bytes);
		}
		wb_put_le32(img + off + 16, ip_checksum(img + off + 24, bytes));
		wb_put_le32(img + off + 8, 0);
		wb_put_le32(img + off + 8, ip_checksum(img + off, 24));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	static struct wb_firmware fw;
	struct wb_physmem mem;
	uint8_t *img;
	char why[256];

	if (fd < 0) {
		wb_prog = "fuzz_cbtable";
		fd = memfd_create("fuzz_cbtable", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (size < 1)
		return 0;
	size--;
	if (size > IMAGE_MAX)
		size = IMAGE_MAX;
	img = malloc(size ? size : 1);
	if (!img)
		return 0;
	memcpy(img, data + 1, size);
	if (data[0] & 1)
		fix_checksums(img, size);
	if (ftruncate(fd, 0) || (size && pwrite(fd, img, size, 0) != (ssize_t)size))
		abort();
	free(img);
	if (wb_physmem_open(&mem, path, 0))
		abort();
	if (!wb_cbtable_find(&mem, &fw, why, sizeof(why)) &&
	    (fw.mem_count > WB_MAX_FW_MEM_RANGES || !memchr(fw.where, 0, sizeof(fw.where))))
		abort();
	wb_physmem_close(&mem);
	return 0;
}
