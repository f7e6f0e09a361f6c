/* SPDX-License-Identifier: GPL-2.0-only */
/* Loading the crash stub with kexec_load(2); see crashstub.h. */

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kexec.h>

#include "crashstub.h"
#include "wbutil.h"

int crashstub_place(const struct iomem *io, const char *iomem_path, uint64_t *addr)
{
	struct wb_ranges crash = { 0 };
	const struct wb_range *last;

	iomem_find(io, "Crash kernel", 0, &crash);
	if (!crash.count) {
		wb_err("no \"Crash kernel\" range in %s: boot with crashkernel=SIZE for the crash "
		       "stub, or pass --no-crash-stub", iomem_path);
		wb_ranges_free(&crash);
		return -1;
	}
	/*
	 * With crashkernel=X,high there are two ranges and kexec loads into the
	 * main one, which is the higher; otherwise there is just one.
	 */
	last = &crash.r[crash.count - 1];
	*addr = last->start;
	if (*addr % WB_PAGE_SIZE || last->end - last->start < WB_PAGE_SIZE) {
		wb_err("the \"Crash kernel\" range %#llx-%#llx cannot hold a page",
		       (unsigned long long)last->start, (unsigned long long)last->end - 1);
		wb_ranges_free(&crash);
		return -1;
	}
	wb_ranges_free(&crash);
	return 0;
}

#if defined(__x86_64__)
static const uint8_t stub_code[] = {
	0xb0, 0x06,			/* mov $6, %al: full reset (bit 2) + system reset (bit 1) */
	0x66, 0xba, 0xf9, 0x0c,		/* mov $0xcf9, %dx: ICH9 reset control register */
	0xee,				/* out %al, %dx */
	0xf4,				/* 1: hlt */
	0xeb, 0xfd,			/* jmp 1b */
};

static const char *load_error(int err)
{
	switch (err) {
	case ENOSYS:
		return "kexec_load is not available (kernel needs CONFIG_KEXEC)";
	case EPERM:
		return "not permitted (needs CAP_SYS_BOOT; kexec may be disabled by "
		       "kernel.kexec_load_disabled or lockdown)";
	case ENOMEM:
		return "the crash kernel range is too small for the stub and kexec's page "
		       "tables: boot with a larger crashkernel=";
	case EADDRNOTAVAIL:
		return "the stub is not inside the crash kernel range";
	case EBUSY:
		return "a crash kernel is being loaded or run";
	default:
		return strerror(err);
	}
}

int crashstub_load(uint64_t addr)
{
	struct kexec_segment segment = {
		.buf = stub_code,
		.bufsz = sizeof(stub_code),
		.mem = (const void *)(uintptr_t)addr,
		.memsz = WB_PAGE_SIZE,	/* kexec loads whole pages */
	};

	if (syscall(SYS_kexec_load, (unsigned long)addr, 1ul, &segment,
		    (unsigned long)(KEXEC_ON_CRASH | KEXEC_ARCH_X86_64))) {
		wb_err("cannot load the crash stub at %#llx: %s", (unsigned long long)addr,
		       load_error(errno));
		return -1;
	}
	return 0;
}

void crashstub_unload(void)
{
	/* No segments: unload the crash image. */
	syscall(SYS_kexec_load, 0ul, 0ul, NULL,
		(unsigned long)(KEXEC_ON_CRASH | KEXEC_ARCH_X86_64));
}
#else
int crashstub_load(uint64_t addr)
{
	(void)addr;
	wb_err("the crash stub is x86-only for now: pass --no-crash-stub");
	return -1;
}

void crashstub_unload(void)
{
}
#endif
