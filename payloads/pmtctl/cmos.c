/* SPDX-License-Identifier: GPL-2.0-only */
/* The arm cookie in CMOS; see cmos.h. */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cmos.h"
#include "wbutil.h"

#define CMOS_INDEX_PORT 0x70u
#define CMOS_DATA_PORT 0x71u

static int open_image(const char *image, int flags)
{
	int fd = open(image, flags | O_CLOEXEC);

	if (fd < 0)
		wb_err("cannot open CMOS image %s: %s", image, strerror(errno));
	return fd;
}

static int image_io(const char *image, unsigned int offset, uint8_t *bytes, int write)
{
	int fd = open_image(image, write ? O_RDWR : O_RDONLY);
	int rc;

	if (fd < 0)
		return -1;
	rc = write ? wb_pwrite_all(fd, bytes, PMT_CMOS_COOKIE_SIZE, offset)
		   : wb_pread_all(fd, bytes, PMT_CMOS_COOKIE_SIZE, offset);
	if (rc)
		wb_err("cannot %s the cookie in CMOS image %s: %s", write ? "write" : "read", image,
		       wb_io_error());
	close(fd);
	return rc;
}

#if defined(__x86_64__) || defined(__i386__)
/*
 * Port I/O through /dev/port, whose file offset is the port number. The
 * index write leaves bit 7 (NMI disable on many chipsets) clear, as Linux's
 * own CMOS_READ/CMOS_WRITE do; port 0x70 cannot be read back, so there is
 * no read-modify-write. The kernel's RTC driver may use the same ports
 * under rtc_lock, which userspace cannot take, so every write is verified.
 */
static int port_io(unsigned int offset, uint8_t *bytes, int write)
{
	int fd = open("/dev/port", O_RDWR | O_CLOEXEC);
	unsigned int i;

	if (fd < 0) {
		wb_err("cannot open /dev/port for the CMOS cookie "
		       "(kernel needs CONFIG_DEVPORT): %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < PMT_CMOS_COOKIE_SIZE; i++) {
		uint8_t index = (uint8_t)(offset + i), value;

		if (wb_pwrite_all(fd, &index, 1, CMOS_INDEX_PORT))
			goto fail;
		if (write && wb_pwrite_all(fd, &bytes[i], 1, CMOS_DATA_PORT))
			goto fail;
		if (write && wb_pwrite_all(fd, &index, 1, CMOS_INDEX_PORT))
			goto fail;
		if (wb_pread_all(fd, &value, 1, CMOS_DATA_PORT))
			goto fail;
		if (write && value != bytes[i]) {
			wb_err("CMOS byte %#x reads back %#x after writing %#x", index, value,
			       bytes[i]);
			close(fd);
			return -1;
		}
		bytes[i] = value;
	}
	close(fd);
	return 0;
fail:
	wb_err("CMOS access through /dev/port failed: %s", wb_io_error());
	close(fd);
	return -1;
}
#else
static int port_io(unsigned int offset, uint8_t *bytes, int write)
{
	(void)offset;
	(void)bytes;
	wb_err("cannot %s the arm cookie: CMOS is x86-only for now (pass --cmos FILE)",
	       write ? "write" : "read");
	return -1;
}
#endif

static int check_offset(uint64_t offset)
{
	if (offset > WB_CMOS_SIZE - PMT_CMOS_COOKIE_SIZE) {
		wb_err("firmware puts the arm cookie at CMOS offset %#llx, outside the %u bytes",
		       (unsigned long long)offset, WB_CMOS_SIZE);
		return -1;
	}
	return 0;
}

int cmos_read_cookie(const char *image, uint64_t offset, uint64_t *cookie)
{
	uint8_t bytes[PMT_CMOS_COOKIE_SIZE];
	int rc;

	if (check_offset(offset))
		return -1;
	rc = image ? image_io(image, (unsigned int)offset, bytes, 0)
		   : port_io((unsigned int)offset, bytes, 0);
	if (!rc)
		*cookie = wb_get_le64(bytes);
	return rc;
}

int cmos_write_cookie(const char *image, uint64_t offset, uint64_t cookie)
{
	uint8_t bytes[PMT_CMOS_COOKIE_SIZE];

	if (check_offset(offset))
		return -1;
	wb_put_le64(bytes, cookie);
	return image ? image_io(image, (unsigned int)offset, bytes, 1)
		     : port_io((unsigned int)offset, bytes, 1);
}
