/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Physical memory as a file whose offset is the physical address: /dev/mem
 * on a running system, or a raw memory image (QEMU pmemsave) in tests.
 *
 * /dev/mem with CONFIG_STRICT_DEVMEM serves only what is not System RAM
 * (plus the first MiB, which reads as zeros where it is RAM): the anchor,
 * the coreboot tables and, in LinuxBoot, everything firmware reserved.
 * read() and write() on /dev/mem also refuse every address above the last
 * page of System RAM (valid_phys_addr_range), which is where CBMEM and most
 * preserved memory lie, so a device is accessed through mmap() instead.
 *
 * arm64: read() serves exactly the linear map (memblock "map memory"), so
 * it is tried first; the rest (CBMEM, carved out of /memory by coreboot) is
 * mapped as device memory and copied with aligned accesses.
 */

#ifndef WARMBOOT_PHYSMEM_H
#define WARMBOOT_PHYSMEM_H

#include <stddef.h>
#include <stdint.h>

struct wb_physmem {
	int fd;
	const char *path;
	int device;		/* a character device (/dev/mem): use mmap() */
	int writable;
};

/* Open path read-only or read-write; prints the error. Returns 0 or -1. */
int wb_physmem_open(struct wb_physmem *mem, const char *path, int writable);
void wb_physmem_close(struct wb_physmem *mem);

/* Exactly len bytes at addr; -1 with errno (0: past the end), no message. */
int wb_physmem_read(const struct wb_physmem *mem, uint64_t addr, void *buf, size_t len);

/* As wb_physmem_read, but prints "cannot read ADDR+LEN from PATH: why". */
int wb_physmem_read_or_err(const struct wb_physmem *mem, uint64_t addr, void *buf,
			   size_t len);

/* Write exactly len bytes at addr; prints the error. Returns 0 or -1. */
int wb_physmem_write(const struct wb_physmem *mem, uint64_t addr, const void *buf,
		     size_t len);

#endif /* WARMBOOT_PHYSMEM_H */
