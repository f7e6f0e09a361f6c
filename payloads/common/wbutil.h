/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by warmboot's static userspace tools (pmtctl, dumpcap,
 * wbkexec): messages, explicit little-endian encoding, whole-buffer I/O and
 * number parsing. Whatever firmware or dump tools read is encoded byte by
 * byte here, never through the host's struct layout.
 */

#ifndef WARMBOOT_WBUTIL_H
#define WARMBOOT_WBUTIL_H

#include <stddef.h>
#include <stdint.h>

#define WB_PAGE_SIZE 4096u
#define WB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define WB_PRINTF(f, a) __attribute__((format(printf, f, a)))

/*
 * Exit statuses, the same in every tool (docs/payloads.md, "Exit statuses"):
 * 0 done, 1 error, 2 usage. A tool's own outcomes take WB_EXIT_TOOL and up,
 * and its usage text and docs/payloads.md name them.
 */
enum {
	WB_EXIT_OK = 0,
	WB_EXIT_ERROR = 1,
	WB_EXIT_USAGE = 2,
	WB_EXIT_TOOL = 3,
};

/* The program name every message starts with; main() sets it once. */
extern const char *wb_prog;

/* "prog: message" on stderr; wb_warn adds "warning: ". */
void wb_err(const char *fmt, ...) WB_PRINTF(1, 2);
void wb_warn(const char *fmt, ...) WB_PRINTF(1, 2);

/* Allocation that cannot fail: the tools exit with a message instead. */
void *wb_zalloc(size_t size);
void *wb_realloc(void *ptr, size_t size);
char *wb_strdup(const char *s);
char *wb_asprintf(const char *fmt, ...) WB_PRINTF(1, 2);

static inline uint16_t wb_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t wb_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static inline uint64_t wb_get_le64(const uint8_t *p)
{
	return (uint64_t)wb_get_le32(p) | ((uint64_t)wb_get_le32(p + 4) << 32);
}

static inline void wb_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void wb_put_le32(uint8_t *p, uint32_t v)
{
	wb_put_le16(p, (uint16_t)v);
	wb_put_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void wb_put_le64(uint8_t *p, uint64_t v)
{
	wb_put_le32(p, (uint32_t)v);
	wb_put_le32(p + 4, (uint32_t)(v >> 32));
}

/* Round to a power-of-two alignment. */
static inline uint64_t wb_align_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) & ~(align - 1);
}

static inline uint64_t wb_align_down(uint64_t v, uint64_t align)
{
	return v & ~(align - 1);
}

/*
 * Transfer exactly len bytes at offset off, retrying short transfers and
 * EINTR. Return 0, or -1 with errno set; errno 0 means end of file.
 */
int wb_pread_all(int fd, void *buf, size_t len, uint64_t off);
int wb_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

/* strerror(errno), or "end of file" for the errno 0 the above leave at EOF. */
const char *wb_io_error(void);

/*
 * A whole file of at most max bytes (EFBIG if larger), NUL-terminated for
 * text, its length in *len; NULL with errno on failure.
 */
void *wb_read_file(const char *path, size_t max, size_t *len);

/* A small text file, NUL-terminated (at most max bytes); NULL with errno. */
char *wb_read_text(const char *path, size_t max);

/*
 * Write a whole file so that it appears complete or not at all: a
 * temporary file in the same directory, fsync, rename. Returns 0 or -1
 * (with a message printed).
 */
int wb_write_file_atomic(const char *path, const void *data, size_t len);

/*
 * Parse an unsigned int 64-bit number. base 0 takes C prefixes (0x, 0) like the
 * kernel's simple_strtoull(). With end NULL the whole string (but trailing
 * whitespace) must be the number; otherwise *end is where it stopped.
 * Returns 0, or -1 for no digits or overflow.
 */
int wb_parse_u64(const char *s, int base, uint64_t *out, const char **end);

/* The kernel's memparse(): a number with an optional K/M/G/T/P/E suffix. */
int wb_memparse(const char *s, uint64_t *out, const char **end);

#endif /* WARMBOOT_WBUTIL_H */
