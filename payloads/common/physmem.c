/* SPDX-License-Identifier: GPL-2.0-only */
/* Physical memory through a file whose offsets are addresses; see physmem.h. */

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "physmem.h"
#include "wbutil.h"

int wb_physmem_open(struct wb_physmem *mem, const char *path, int writable)
{
	int flags = writable ? O_RDWR : O_RDONLY;

	struct stat st;

	mem->path = path;
	mem->writable = writable;
	mem->fd = open(path, flags | O_CLOEXEC);
	if (mem->fd < 0) {
		wb_err("cannot open %s%s: %s", path, writable ? " for writing" : "",
		       strerror(errno));
		return -1;
	}
	mem->device = fstat(mem->fd, &st) == 0 && S_ISCHR(st.st_mode);
	return 0;
}

#if defined(__aarch64__)
/*
 * arm64 maps /dev/mem pages outside the linear map (CBMEM, where the anchor
 * is) as Device-nGnRnE memory, where an unaligned access faults, and
 * memcpy() makes unaligned ones: copy with naturally aligned accesses.
 */
static void device_copy(volatile uint8_t *dev, uint8_t *buf, size_t len, int to_memory)
{
	size_t i = 0;

	for (; i < len && ((uintptr_t)(dev + i) & 7); i++) {
		if (to_memory)
			dev[i] = buf[i];
		else
			buf[i] = dev[i];
	}
	for (; i + 8 <= len; i += 8) {
		uint64_t v;

		if (to_memory) {
			memcpy(&v, buf + i, 8);
			*(volatile uint64_t *)(dev + i) = v;
		} else {
			v = *(volatile uint64_t *)(dev + i);
			memcpy(buf + i, &v, 8);
		}
	}
	for (; i < len; i++) {
		if (to_memory)
			dev[i] = buf[i];
		else
			buf[i] = dev[i];
	}
}
#endif

/* Copy len bytes between buf and physical memory at addr through a mapping. */
static int mapped_copy(const struct wb_physmem *mem, uint64_t addr, void *buf, size_t len,
		       int to_memory)
{
	const long page = sysconf(_SC_PAGESIZE);
	const uint64_t start = addr & ~(uint64_t)(page - 1);
	const size_t span = (size_t)(addr - start) + len;
	const int prot = to_memory ? PROT_READ | PROT_WRITE : PROT_READ;
	uint8_t *map;

	if (!len)
		return 0;
	map = mmap(NULL, span, prot, MAP_SHARED, mem->fd, (off_t)start);
	if (map == MAP_FAILED)
		return -1;
#if defined(__aarch64__)
	device_copy(map + (addr - start), buf, len, to_memory);
#else
	if (to_memory)
		memcpy(map + (addr - start), buf, len);
	else
		memcpy(buf, map + (addr - start), len);
#endif
	munmap(map, span);
	return 0;
}

void wb_physmem_close(struct wb_physmem *mem)
{
	if (mem->fd >= 0)
		close(mem->fd);
	mem->fd = -1;
}

int wb_physmem_read(const struct wb_physmem *mem, uint64_t addr, void *buf, size_t len)
{
#if defined(__aarch64__)
	/*
	 * read() serves memory in the linear map (what firmware kept, reserved
	 * without no-map) at memcpy speed; the rest needs the mapping.
	 */
	if (mem->device && !wb_pread_all(mem->fd, buf, len, addr))
		return 0;
#endif
	if (mem->device)
		return mapped_copy(mem, addr, buf, len, 0);
	return wb_pread_all(mem->fd, buf, len, addr);
}

int wb_physmem_read_or_err(const struct wb_physmem *mem, uint64_t addr, void *buf,
			   size_t len)
{
	if (!wb_physmem_read(mem, addr, buf, len))
		return 0;
	wb_err("cannot read %#llx+%#zx from %s: %s", (unsigned long long)addr, len, mem->path,
	       wb_io_error());
	return -1;
}

int wb_physmem_write(const struct wb_physmem *mem, uint64_t addr, const void *buf,
		     size_t len)
{
	if (mem->device ? !mapped_copy(mem, addr, (void *)buf, len, 1)
			: !wb_pwrite_all(mem->fd, buf, len, addr))
		return 0;
	wb_err("cannot write %#llx+%#zx to %s: %s", (unsigned long long)addr, len, mem->path,
	       strerror(errno));
	return -1;
}
