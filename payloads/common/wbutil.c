/* SPDX-License-Identifier: GPL-2.0-only */
/* Helpers shared by warmboot's userspace tools; see wbutil.h. */

#define _GNU_SOURCE	/* vasprintf */

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wbutil.h"

const char *wb_prog = "warmboot";

static void vmessage(const char *kind, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: %s", wb_prog, kind);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void wb_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("", fmt, ap);
	va_end(ap);
}

void wb_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmessage("warning: ", fmt, ap);
	va_end(ap);
}

static void *checked(void *ptr, size_t size)
{
	if (!ptr && size) {
		wb_err("out of memory (%zu bytes)", size);
		exit(WB_EXIT_ERROR);
	}
	return ptr;
}

void *wb_zalloc(size_t size)
{
	return checked(calloc(1, size ? size : 1), size);
}

void *wb_realloc(void *ptr, size_t size)
{
	return checked(realloc(ptr, size ? size : 1), size);
}

char *wb_strdup(const char *s)
{
	return checked(strdup(s), strlen(s) + 1);
}

char *wb_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *out;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&out, fmt, ap);
	va_end(ap);
	if (n < 0)
		return checked(NULL, strlen(fmt) + 1);
	return out;
}

int wb_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = 0;
			return -1;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int wb_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			return -1;
		}
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

const char *wb_io_error(void)
{
	return errno ? strerror(errno) : "end of file";
}

void *wb_read_file(const char *path, size_t max, size_t *len)
{
	/* One byte more than allowed tells a file that is too large. */
	char *buf = wb_zalloc(max + 2);
	size_t have = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC), saved;

	if (fd < 0)
		goto fail;
	while (have <= max) {
		ssize_t n = read(fd, buf + have, max + 1 - have);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	if (have > max) {
		free(buf);
		errno = EFBIG;
		return NULL;
	}
	buf[have] = '\0';
	if (len)
		*len = have;
	return buf;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	free(buf);
	errno = saved;
	return NULL;
}

char *wb_read_text(const char *path, size_t max)
{
	return wb_read_file(path, max, NULL);
}

int wb_write_file_atomic(const char *path, const void *data, size_t len)
{
	char *tmp = wb_asprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = -1;

	if (fd < 0) {
		wb_err("cannot create %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	if (wb_pwrite_all(fd, data, len, 0) || fsync(fd)) {
		wb_err("cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
	} else if (close(fd)) {
		wb_err("cannot write %s: %s", tmp, strerror(errno));
		unlink(tmp);
	} else if (rename(tmp, path)) {
		wb_err("cannot rename %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
	} else {
		rc = 0;
	}
	free(tmp);
	return rc;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

/* Where a number ended: handed back, or else only whitespace may follow. */
static int number_end(const char *p, const char **end)
{
	if (end) {
		*end = p;
		return 0;
	}
	while (isspace((unsigned char)*p))
		p++;
	return *p ? -1 : 0;
}

int wb_parse_u64(const char *s, int base, uint64_t *out, const char **end)
{
	const char *p = s;
	uint64_t value = 0;
	int digits = 0, d;

	if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') &&
	    digit_value(p[2]) < 16) {
		p += 2;
		base = 16;
	} else if (base == 0) {
		base = p[0] == '0' ? 8 : 10;
	}
	while ((d = digit_value(*p)) < base) {
		if (value > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return -1;
		value = value * (uint64_t)base + (uint64_t)d;
		digits++;
		p++;
	}
	if (!digits || number_end(p, end))
		return -1;
	*out = value;
	return 0;
}

int wb_memparse(const char *s, uint64_t *out, const char **end)
{
	static const char suffixes[] = "KMGTPE";
	const char *p, *at;
	uint64_t value;
	unsigned int shift;

	if (wb_parse_u64(s, 0, &value, &p))
		return -1;
	at = *p ? strchr(suffixes, toupper((unsigned char)*p)) : NULL;
	if (at) {
		shift = 10 * (unsigned int)(at - suffixes + 1);
		if (value > (UINT64_MAX >> shift))
			return -1;
		value <<= shift;
		p++;
	}
	if (number_end(p, end))
		return -1;
	*out = value;
	return 0;
}
