/* SPDX-License-Identifier: GPL-2.0-only */
/* Loading the crash stub with kexec_load(2); see crashstub.h. */

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kexec.h>

#include "crashstub.h"
#include "firmware.h"
#include "pmt.h"
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
#define STUB_ARCH KEXEC_ARCH_X86_64

static const uint8_t stub_x86_64[] = {
	0xb0, 0x06,			/* mov $6, %al: full reset (bit 2) + system reset (bit 1) */
	0x66, 0xba, 0xf9, 0x0c,		/* mov $0xcf9, %dx: ICH9 reset control register */
	0xee,				/* out %al, %dx */
	0xf4,				/* 1: hlt */
	0xeb, 0xfd,			/* jmp 1b */
};

static size_t build_stub(uint8_t *code, const struct crashstub_reset *reset)
{
	(void)reset;
	memcpy(code, stub_x86_64, sizeof(stub_x86_64));
	return sizeof(stub_x86_64);
}
#elif defined(__aarch64__)
#define STUB_ARCH KEXEC_ARCH_AARCH64

#define PSCI_SYSTEM_RESET 0x84000009u
#define A64_SMC_0 0xd4000003u
#define A64_HVC_0 0xd4000002u

/* Instructions, then the literals they load (little-endian A64). */
static const uint32_t stub_aarch64[] = {
	0x58000140,	/* 0x00: ldr x0, 0x28	mailbox */
	0x58000161,	/* 0x04: ldr x1, 0x30	magic */
	0x58000182,	/* 0x08: ldr x2, 0x38	cookie */
	0xa9000801,	/* 0x0c: stp x1, x2, [x0] */
	0xd5033f9f,	/* 0x10: dsb sy */
	0x58000160,	/* 0x14: ldr x0, 0x40	PSCI_SYSTEM_RESET */
	A64_SMC_0,	/* 0x18: smc #0 (or hvc #0) */
	0xd503207f,	/* 0x1c: 1: wfi */
	0x17ffffff,	/* 0x20: b 1b */
	0xd503201f,	/* 0x24: nop */
};
#define STUB_CONDUIT 6		/* index of the smc/hvc instruction */
#define STUB_LITERALS 0x28

static size_t build_stub(uint8_t *code, const struct crashstub_reset *reset)
{
	size_t i;

	for (i = 0; i < WB_ARRAY_SIZE(stub_aarch64); i++)
		wb_put_le32(code + 4 * i, stub_aarch64[i]);
	if (reset->use_hvc)
		wb_put_le32(code + 4 * STUB_CONDUIT, A64_HVC_0);
	wb_put_le64(code + STUB_LITERALS, reset->mailbox);
	wb_put_le64(code + STUB_LITERALS + 8, PMT_MAILBOX_MAGIC);
	wb_put_le64(code + STUB_LITERALS + 16, reset->cookie);
	wb_put_le64(code + STUB_LITERALS + 24, PSCI_SYSTEM_RESET);
	return STUB_LITERALS + 32;
}
#endif

#if defined(STUB_ARCH)
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

int crashstub_load(uint64_t addr, const struct crashstub_reset *reset)
{
	uint8_t code[64];
	struct kexec_segment segment = {
		.buf = code,
		.bufsz = 0,
		.mem = (const void *)(uintptr_t)addr,
		.memsz = WB_PAGE_SIZE,	/* kexec loads whole pages */
	};

#if defined(__aarch64__)
	if (!reset->mailbox) {
		wb_err("firmware gives no reset mailbox (/chosen/warmboot,reset-mailbox): the "
		       "crash stub could not register the table; pass --no-crash-stub");
		return -1;
	}
#endif
	segment.bufsz = build_stub(code, reset);
	if (syscall(SYS_kexec_load, (unsigned long)addr, 1ul, &segment,
		    (unsigned long)(KEXEC_ON_CRASH | STUB_ARCH))) {
		wb_err("cannot load the crash stub at %#llx: %s", (unsigned long long)addr,
		       load_error(errno));
		return -1;
	}
	return 0;
}

void crashstub_unload(void)
{
	/* No segments: unload the crash image. */
	syscall(SYS_kexec_load, 0ul, 0ul, NULL, (unsigned long)(KEXEC_ON_CRASH | STUB_ARCH));
}
#else
int crashstub_load(uint64_t addr, const struct crashstub_reset *reset)
{
	(void)addr;
	(void)reset;
	wb_err("no crash stub for this architecture: pass --no-crash-stub");
	return -1;
}

void crashstub_unload(void)
{
}
#endif
