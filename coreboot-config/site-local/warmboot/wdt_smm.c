/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * SMM: when the TCO watchdog times out for the first time, save every CPU's
 * registers into the CPU_STATE area of the table the OS armed, mark the table
 * WDT_FIRED and warm-reset, so that a CPU hung with interrupts off still
 * leaves its RIP and RSP for the next boot's vmcore.
 *
 * The OS runs on the other CPUs while this handler starts, and the table is
 * memory it can write. So (docs/crashdump.md, "The SMM callout threat"):
 *  - the anchor's address and the set of CPUs came from ramstage before the
 *    OS ran (APMC, accepted once); no pointer comes from the OS;
 *  - every other CPU is summoned into SMM first, where coreboot's SMI lock
 *    holds it until this handler is done, before any byte of the table is
 *    read;
 *  - the table is then copied into SMRAM once, the copy is judged, and only
 *    the copy is used (the CPU slots' magic and cpu_id are read once each);
 *  - every record written lies inside the CPU_STATE range judged in the
 *    copy, checked again for each record before it is written; the only
 *    other write is the WDT_FIRED bit of the flags word at the anchor.
 * A CPU that does not answer the SMI cannot be proven stopped; the copy and
 * the bounds are what keep the OS from steering a write even then.
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
/* The largest table SMM copies: a header and 124 entries, plenty for 4 CPUs. */
#define SMM_TABLE_MAX		4096

/* Set once, by ramstage's APMC call before the OS ran. */
static uintptr_t anchor;
static uint32_t cpu_mask;	/* APIC ids of the CPUs ramstage relocated, and its own */

/* SMRAM, not the stack (about 1 KiB per CPU in the ASEG layout). */
static uint8_t table_copy[SMM_TABLE_MAX];
static struct warmboot_judge judge;

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
	cpu_mask = (uint32_t)state->rcx & ((1u << CONFIG_MAX_CPUS) - 1);
	printk(BIOS_DEBUG, "warmboot: SMM: PMT anchor at 0x%lx, CPUs 0x%x\n",
	       (unsigned long)anchor, cpu_mask);
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

/* Summon every other CPU into SMM; returns the CPUs now held there. */
static uint32_t hold_other_cpus(unsigned int self)
{
	uint32_t held = 1u << self;
	unsigned int id;

	for (id = 0; id < CONFIG_MAX_CPUS; id++) {
		if (id == self || !(cpu_mask & (1u << id)))
			continue;
		if (summon(id))
			printk(BIOS_WARNING, "warmboot: SMM: CPU %u did not enter SMM\n", id);
		else
			held |= 1u << id;
	}
	return held;
}

static int inside(uint64_t base, uint64_t size, uint64_t outer, uint64_t outer_size)
{
	return base >= outer && size <= outer_size && base - outer <= outer_size - size;
}

/* Save each held CPU into its slot of the judged CPU_STATE `h` describes. */
static uint32_t save_cpus(const struct pmt_header_v1 *h, uint32_t held, unsigned int self)
{
	const uint64_t half = (uint64_t)anchor + WARMBOOT_TABLE_MAX;
	uint32_t i, saved = 0;

	for (i = 0; i < h->cpu_count; i++) {
		const uint64_t at = h->cpu_state_addr + (uint64_t)i * h->cpu_record_size;
		const amd64_smm_state_save_area_t *state;
		struct pmt_cpu_record_v1 *rec;
		uint32_t magic;
		uint64_t id;

		/* Judged already; checked again, as every write must be. */
		if (!inside(at, sizeof(*rec), h->cpu_state_addr, h->cpu_state_size)
		    || !inside(at, sizeof(*rec), half, WARMBOOT_TABLE_MAX))
			break;
		rec = (void *)(uintptr_t)at;
		magic = *(volatile uint32_t *)&rec->magic;
		id = *(volatile uint64_t *)&rec->cpu_id;
		if (magic != PMT_CPU_RECORD_MAGIC || id >= CONFIG_MAX_CPUS
		    || !(held & (1u << id)))
			continue;
		state = smm_get_save_state(id);
		if (!state)
			continue;
		fill_record(rec, state, id == self);
		printk(BIOS_INFO, "warmboot: SMM: CPU %u RIP 0x%llx RSP 0x%llx\n",
		       (unsigned int)id, (unsigned long long)state->rip,
		       (unsigned long long)state->rsp);
		saved++;
	}
	return saved;
}

void mainboard_smi_tco_timeout(void)
{
	const unsigned int self = this_apic_id();
	struct pmt_decoded dec;
	uint32_t held, saved;
	int reason;

	if (!anchor)
		return;
	/* Nothing of the table is read before the other CPUs are held. */
	held = hold_other_cpus(self);
	warmboot_judge_init_minimal(&judge, warmboot_cmos_cookie());
	if (!judge.lim.arm_cookie) {
		printk(BIOS_INFO, "warmboot: SMM: watchdog fired with no armed PMT\n");
		return;
	}
	reason = warmboot_snapshot((const volatile void *)anchor, anchor, table_copy,
				   sizeof(table_copy), &judge, &dec);
	if (!reason && !(dec.hdr.flags & PMT_FLAG_ARMED)) {
		printk(BIOS_INFO, "warmboot: SMM: watchdog fired with no armed PMT\n");
		return;
	}
	if (!reason && !dec.hdr.cpu_state_size)
		reason = PMT_REJECT_CPU_STATE_FORBIDDEN;
	if (reason) {
		printk(BIOS_WARNING, "warmboot: SMM: watchdog fired; PMT rejected: %s "
		       "(entry %d); nothing saved\n", warmboot_reason_name(reason),
		       dec.bad_entry == PMT_NO_ENTRY ? -1 : (int)dec.bad_entry);
		return;
	}
	saved = save_cpus(&dec.hdr, held, self);
	/* The flags word is at the anchor, where ramstage said: not the OS's pointer. */
	((volatile struct pmt_header_v1 *)anchor)->flags = dec.hdr.flags | PMT_FLAG_WDT_FIRED;
	printk(BIOS_INFO, "warmboot: SMM: watchdog fired; saved %u CPUs' registers\n", saved);
	if (CONFIG(WARMBOOT_WDT_RESET_AT_ONCE)) {
		/* Warm reset (DRAM kept) rather than waiting a heartbeat. */
		outb(0x06, 0xcf9);
		halt();
	}
}
