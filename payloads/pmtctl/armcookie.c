/* SPDX-License-Identifier: GPL-2.0-only */
/* The arm cookie in CMOS or in firmware's reset mailbox; see armcookie.h. */

#include <string.h>

#include "armcookie.h"
#include "cmos.h"
#include "wbutil.h"

int armcookie_in_mailbox(const struct wb_firmware *fw)
{
	return fw->cookie_kind == PMT_COOKIE_MAILBOX && fw->cookie_size >= PMT_MAILBOX_SIZE;
}

/* CMOS, where firmware said; -1 (printed) when it said nothing usable. */
static int cmos_offset(const struct wb_firmware *fw, uint64_t *offset)
{
	if (fw->cookie_kind != PMT_COOKIE_CMOS || fw->cookie_size != PMT_CMOS_COOKIE_SIZE) {
		wb_err("firmware does not say where the arm cookie goes (%s: cookie kind %u; "
		       "coreboot record layout 1?)", fw->where, fw->cookie_kind);
		return -1;
	}
	*offset = fw->cookie_addr;
	return 0;
}

static int mailbox_write(const struct wb_physmem *mem, const struct wb_firmware *fw,
			 uint64_t magic, uint64_t cookie)
{
	uint8_t box[PMT_MAILBOX_SIZE], check[PMT_MAILBOX_SIZE];

	wb_put_le64(box, magic);
	wb_put_le64(box + 8, cookie);
	if (wb_physmem_write(mem, fw->cookie_addr, box, sizeof(box)) ||
	    wb_physmem_read_or_err(mem, fw->cookie_addr, check, sizeof(check)))
		return -1;
	if (memcmp(box, check, sizeof(box))) {
		wb_err("the reset mailbox at %#llx does not read back what was written",
		       (unsigned long long)fw->cookie_addr);
		return -1;
	}
	return 0;
}

int armcookie_arm(const struct wb_paths *paths, const struct wb_physmem *mem,
		  const struct wb_firmware *fw, uint64_t cookie)
{
	uint64_t offset;

	if (armcookie_in_mailbox(fw))
		return mailbox_write(mem, fw, 0, 0);
	return cmos_offset(fw, &offset) ? -1 : cmos_write_cookie(paths->cmos, offset, cookie);
}

int armcookie_force(const struct wb_paths *paths, const struct wb_physmem *mem,
		    const struct wb_firmware *fw, uint64_t cookie)
{
	uint64_t offset;

	if (armcookie_in_mailbox(fw))
		return mailbox_write(mem, fw, cookie ? PMT_MAILBOX_MAGIC : 0, cookie);
	return cmos_offset(fw, &offset) ? -1 : cmos_write_cookie(paths->cmos, offset, cookie);
}

int armcookie_clear(const struct wb_paths *paths, const struct wb_physmem *mem,
		    const struct wb_firmware *fw)
{
	uint64_t offset;

	if (armcookie_in_mailbox(fw))
		return mailbox_write(mem, fw, 0, 0);
	return cmos_offset(fw, &offset) ? -1 : cmos_write_cookie(paths->cmos, offset, 0);
}

int armcookie_read(const struct wb_paths *paths, const struct wb_physmem *mem,
		   const struct wb_firmware *fw, uint64_t *cookie, const char **where)
{
	uint8_t box[PMT_MAILBOX_SIZE];
	uint64_t offset;

	if (!armcookie_in_mailbox(fw)) {
		*where = "cmos cookie";
		return cmos_offset(fw, &offset) ? -1 : cmos_read_cookie(paths->cmos, offset, cookie);
	}
	*where = "reset mailbox cookie";
	if (wb_physmem_read_or_err(mem, fw->cookie_addr, box, sizeof(box)))
		return -1;
	*cookie = wb_get_le64(box) == PMT_MAILBOX_MAGIC ? wb_get_le64(box + 8) : 0;
	return 0;
}
