/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer harness: the device-tree hand-off reader of the payload tools
 * (payloads/common/dtfw.c, wb_dt_find() and wb_dt_psci_uses_hvc()), on a
 * fake /sys tree in a private temporary directory.
 *
 * Input: for each property below, u8 length (0xff: absent) and that many
 * bytes; then the memory image (the PMT header warmboot,pmt points at).
 */

#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firmware.h"
#include "wbutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const props[] = {
	"#address-cells", "#size-cells", "chosen/warmboot,anchor",
	"chosen/warmboot,boot-window", "chosen/warmboot,reset-mailbox", "chosen/warmboot,pmt",
	"chosen/warmboot,pmt-status", "psci/method",
};

static char root[128];

static void cleanup(void)
{
	char path[256];
	size_t i;

	for (i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		snprintf(path, sizeof(path), "%s/firmware/devicetree/base/%s", root, props[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/firmware/devicetree/base/chosen", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/firmware/devicetree/base/psci", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/firmware/devicetree/base", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/firmware/devicetree", root);
	rmdir(path);
	snprintf(path, sizeof(path), "%s/firmware", root);
	rmdir(path);
	rmdir(root);
}

static void setup(void)
{
	const char *const dirs[] = { "firmware", "firmware/devicetree",
		"firmware/devicetree/base", "firmware/devicetree/base/chosen",
		"firmware/devicetree/base/psci" };
	char path[256];
	size_t i;

	snprintf(root, sizeof(root), "%s/fuzz-dtfw-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(root))
		abort();
	atexit(cleanup);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		if (mkdir(path, 0700) && errno != EEXIST)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char mem_path[64];
	static struct wb_firmware fw;
	struct wb_physmem mem;
	char path[256], why[256];
	size_t i;

	if (fd < 0) {
		wb_prog = "fuzz_dtfw";
		setup();
		fd = memfd_create("fuzz_dtfw", 0);
		if (fd < 0)
			abort();
		snprintf(mem_path, sizeof(mem_path), "/proc/self/fd/%d", fd);
	}
	for (i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		size_t n;
		FILE *f;

		snprintf(path, sizeof(path), "%s/firmware/devicetree/base/%s", root, props[i]);
		unlink(path);
		if (!size)
			continue;
		n = data[0];
		data++;
		size--;
		if (n == 0xff)
			continue;
		if (n > size)
			n = size;
		f = fopen(path, "wb");
		if (!f || fwrite(data, 1, n, f) != n || fclose(f))
			abort();
		data += n;
		size -= n;
	}
	if (ftruncate(fd, 0) || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
		abort();
	if (wb_physmem_open(&mem, mem_path, 0))
		abort();
	if (!wb_dt_find(root, &mem, &fw, why, sizeof(why)) && !memchr(fw.where, 0, sizeof(fw.where)))
		abort();
	wb_dt_psci_uses_hvc(root);
	wb_physmem_close(&mem);
	return 0;
}
