/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * SMM: when the TCO watchdog times out for the first time, save every CPU's
 * registers into the CPU_STATE area of the table the OS armed, mark the table
 * WDT_FIRED and warm-reset, so that a CPU hung with interrupts off still
 * leaves its RIP and RSP for the next boot's vmcore.
 *
 * SMM trusts no pointer from the OS: the anchor's address came from ramstage
 * before the OS ran (APMC, accepted once), and records are written only into
 * the anchor's second half, after the table there passed validation.
 */

#include <arch/io.h>
#include <console/console.h>
#include <cpu/amd/amd64_save_state.h>
#include <cpu/x86/lapic_def.h>
#include <cpu/x86/msr.h>
#include <cpu/x86/smm.h>
#include <halt.h>
#include <string.h>

#include "warmboot.h"

#define LAPIC_MMIO		0xfee00000
#define MSR_KERNEL_GS_BASE	0xc0000102
#define SMM_ENTRY_SPINS		50000000	/* a few hundred ms, even under TCG */

/* Set once, by ramstage's APMC call before the OS ran. */
static uintptr_t anchor;

static uint32_t lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(LAPIC_MMIO + reg);
}

static void lapic_write(uint32_t reg, uint32_t value)
{
	*(volatile uint32_t *)(LAPIC_MMIO + reg) = value;
}

static unsigned int this_apic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

int mainboard_smi_apmc(u8 data)
{
	amd64_smm_state_save_area_t *state;

	if (data != APM_CNT_WARMBOOT_ANCHOR)
		return 0;
	if (anchor) {
		printk(BIOS_WARNING, "warmboot: SMM: the anchor is already set; ignored\n");
		return 0;
	}
	state = smm_get_save_state(this_apic_id());
	if (!state)
		return 0;
	anchor = (uintptr_t)state->rbx;
	printk(BIOS_DEBUG, "warmboot: SMM: PMT anchor at 0x%lx\n", (unsigned long)anchor);
	return 1;
}

/* Bring CPU apic_id into SMM, so that its save state is current. */
static int summon(unsigned int apic_id)
{
	amd64_smm_state_save_area_t *state = smm_get_save_state(apic_id);
	uint32_t spins;

	if (!state)
		return -1;
	/* Its entry rewrites the whole save state, revision included. */
	state->smm_revision = 0;
	lapic_write(LAPIC_ICR2, SET_LAPIC_DEST_FIELD(apic_id));
	lapic_write(LAPIC_ICR, LAPIC_INT_ASSERT | LAPIC_DM_SMI);
	for (spins = 0; spins < SMM_ENTRY_SPINS; spins++) {
		if (*(volatile uint32_t *)&state->smm_revision)
			return 0;
	}
	return -1;
}

/* elf_gregset_t order for x86_64 (docs/pmt.md, the register table). */
static void fill_record(struct pmt_cpu_record_v1 *rec,
			const amd64_smm_state_save_area_t *s, int current)
{
	const uint64_t gregs[PMT_X86_64_NREGS] = {
		s->r15, s->r14, s->r13, s->r12, s->rpb, s->rbx, s->r11, s->r10,
		s->r9, s->r8, s->rax, s->rcx, s->rdx, s->rsi, s->rdi,
		~0ULL,			/* orig_rax: not in a system call */
		s->rip, s->cs_selector, s->rflags, s->rsp, s->ss_selector,
		s->fs_base, s->gs_base, s->ds_selector, s->es_selector,
		s->fs_selector, s->gs_selector,
	};
	/* cr0, cr2, cr3, cr4, efer, kernel_gs_base, dr6, dr7. CR2 is not in the
	   save state and KERNEL_GS_BASE is an MSR: only the current CPU has them,
	   and 32-bit SMM reads only CR2's low half, so CR2 stays 0. */
	const uint64_t sysregs[PMT_MAX_SYSREGS] = {
		s->cr0, 0, s->cr3, s->cr4, s->efer,
		current ? ({ msr_t m = rdmsr(MSR_KERNEL_GS_BASE);
			     ((uint64_t)m.hi << 32) | m.lo; }) : 0,
		s->dr6, s->dr7,
	};
	uint32_t lo, hi;

	memcpy(rec->gregs, gregs, sizeof(gregs));
	memcpy(rec->sysregs, sysregs, sizeof(sysregs));
	rec->nregs = PMT_X86_64_NREGS;
	rec->nsysregs = PMT_MAX_SYSREGS;
	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	rec->timestamp = ((uint64_t)hi << 32) | lo;
	/* Readers trust only VALID records: set it last. */
	asm volatile("" ::: "memory");
	rec->flags = PMT_CPU_VALID | PMT_CPU_FROM_SMM;
}

void mainboard_smi_tco_timeout(void)
{
	struct pmt_header_v1 *hdr = (void *)anchor;
	const unsigned int self = this_apic_id();
	struct warmboot_judge judge;
	struct pmt_cpu_record_v1 *rec;
	uint32_t bad_entry, i, saved = 0;
	int reason;

	if (!anchor)
		return;
	warmboot_judge_init_minimal(&judge, warmboot_cmos_cookie());
	if (!judge.lim.arm_cookie || !(hdr->flags & PMT_FLAG_ARMED)) {
		printk(BIOS_INFO, "warmboot: SMM: watchdog fired with no armed PMT\n");
		return;
	}
	reason = warmboot_check(hdr, &judge, &bad_entry);
	if (!reason && !hdr->cpu_state_size)
		reason = PMT_REJECT_CPU_STATE_FORBIDDEN;
	if (reason) {
		printk(BIOS_WARNING, "warmboot: SMM: watchdog fired; PMT rejected: %s "
		       "(entry %d); nothing saved\n", warmboot_reason_name(reason),
		       bad_entry == PMT_NO_ENTRY ? -1 : (int)bad_entry);
		return;
	}
	/* warmboot_check() put CPU_STATE inside the anchor's second half. */
	for (i = 0; i < hdr->cpu_count; i++) {
		const amd64_smm_state_save_area_t *state;

		rec = (void *)((uintptr_t)hdr->cpu_state_addr + i * hdr->cpu_record_size);
		if (rec->magic != PMT_CPU_RECORD_MAGIC || rec->cpu_id >= CONFIG_MAX_CPUS)
			continue;
		if (rec->cpu_id != self && summon(rec->cpu_id)) {
			printk(BIOS_WARNING, "warmboot: SMM: CPU %u did not enter SMM\n",
			       (unsigned int)rec->cpu_id);
			continue;
		}
		state = smm_get_save_state(rec->cpu_id);
		if (!state)
			continue;
		fill_record(rec, state, rec->cpu_id == self);
		printk(BIOS_INFO, "warmboot: SMM: CPU %u RIP 0x%llx RSP 0x%llx\n",
		       (unsigned int)rec->cpu_id, (unsigned long long)state->rip,
		       (unsigned long long)state->rsp);
		saved++;
	}
	hdr->flags |= PMT_FLAG_WDT_FIRED;
	printk(BIOS_INFO, "warmboot: SMM: watchdog fired; saved %u CPUs' registers\n", saved);
	if (CONFIG(WARMBOOT_WDT_RESET_AT_ONCE)) {
		/* Warm reset (DRAM kept) rather than waiting a heartbeat. */
		outb(0x06, 0xcf9);
		halt();
	}
}
