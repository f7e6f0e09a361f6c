/* SPDX-License-Identifier: GPL-2.0-only */
/* The arm cookie in CMOS or in firmware's reset mailbox; see armcookie.h. */

#include <string.h>

#include "armcookie.h"
#include "cmos.h"
#include "wbutil.h"

int armcookie_in_mailbox(const struct wb_firmware *fw)
{
	return fw->mailbox_size >= WB_MAILBOX_SIZE;
}

static int mailbox_write(const struct wb_physmem *mem, const struct wb_firmware *fw,
			 uint64_t magic, uint64_t cookie)
{
	uint8_t box[WB_MAILBOX_SIZE], check[WB_MAILBOX_SIZE];

	wb_put_le64(box, magic);
	wb_put_le64(box + 8, cookie);
	if (wb_physmem_write(mem, fw->mailbox_addr, box, sizeof(box)) ||
	    wb_physmem_read_or_err(mem, fw->mailbox_addr, check, sizeof(check)))
		return -1;
	if (memcmp(box, check, sizeof(box))) {
		wb_err("the reset mailbox at %#llx does not read back what was written",
		       (unsigned long long)fw->mailbox_addr);
		return -1;
	}
	return 0;
}

int armcookie_arm(const struct wb_paths *paths, const struct wb_physmem *mem,
		  const struct wb_firmware *fw, uint64_t cookie)
{
	if (armcookie_in_mailbox(fw))
		return mailbox_write(mem, fw, 0, 0);
	return cmos_write_cookie(paths->cmos, cookie);
}

int armcookie_force(const struct wb_paths *paths, const struct wb_physmem *mem,
		    const struct wb_firmware *fw, uint64_t cookie)
{
	if (armcookie_in_mailbox(fw))
		return mailbox_write(mem, fw, cookie ? WB_MAILBOX_MAGIC : 0, cookie);
	return cmos_write_cookie(paths->cmos, cookie);
}

int armcookie_clear(const struct wb_paths *paths, const struct wb_physmem *mem,
		    const struct wb_firmware *fw)
{
	if (armcookie_in_mailbox(fw))
		return mailbox_write(mem, fw, 0, 0);
	return cmos_write_cookie(paths->cmos, 0);
}

int armcookie_read(const struct wb_paths *paths, const struct wb_physmem *mem,
		   const struct wb_firmware *fw, uint64_t *cookie, const char **where)
{
	uint8_t box[WB_MAILBOX_SIZE];

	if (!armcookie_in_mailbox(fw)) {
		*where = "cmos cookie";
		return cmos_read_cookie(paths->cmos, cookie);
	}
	*where = "reset mailbox cookie";
	if (wb_physmem_read_or_err(mem, fw->mailbox_addr, box, sizeof(box)))
		return -1;
	*cookie = wb_get_le64(box) == WB_MAILBOX_MAGIC ? wb_get_le64(box + 8) : 0;
	return 0;
}
