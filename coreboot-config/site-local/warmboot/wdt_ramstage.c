/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Ramstage side of the watchdog register dump: tell SMM where the anchor is,
 * once, before the OS runs; and let the TCO watchdog reset the machine.
 */

#include <arch/io.h>
#include <bootstate.h>
#include <cbmem.h>
#include <console/console.h>
#include <cpu/cpu.h>
#include <cpu/x86/lapic.h>
#include <cpu/x86/smm.h>
#include <delay.h>
#include <device/device.h>
#include <device/pci_ops.h>
#include <string.h>

#include "warmboot.h"

#define LPC_RCBA	0xf0
#define RCBA_GCS	0x3410
#define GCS_NO_REBOOT	(1 << 5)

/* The SMBASE relocation trampoline of cpu/x86/smm/smmrelocate.S. */
extern uint8_t smm_relocation_start, smm_relocation_end;

#define DEFAULT_SMM_ENTRY	0x38000
#define RELOCATION_WAIT_US	20000

/*
 * coreboot 4.15's ASEG flow on qemu-q35 relocates only the BSP's SMBASE
 * (aseg_smm_relocate() raises its SMI by APMC, which QEMU delivers to the
 * current CPU), so an SMI to an AP would run whatever lies at 0x38000.
 * Relocate each AP the same way, with an SMI IPI, so that SMM can summon
 * every CPU when the watchdog fires. Returns the APIC ids of every CPU SMM
 * may summon (the BSP's included), as a mask.
 */
static uint32_t relocate_ap_smbases(void)
{
	const size_t size = &smm_relocation_end - &smm_relocation_start;
	static uint8_t saved[0x400];
	uint32_t mask = 1u << lapicid();
	struct device *cpu;
	unsigned int n = 0;

	if (size > sizeof(saved)) {
		printk(BIOS_ERR, "warmboot: SMM relocation code too large\n");
		return mask;
	}
	memcpy(saved, (void *)DEFAULT_SMM_ENTRY, size);
	memcpy((void *)DEFAULT_SMM_ENTRY, &smm_relocation_start, size);
	for (cpu = all_devices; cpu; cpu = cpu->next) {
		if (cpu->path.type != DEVICE_PATH_APIC || !cpu->enabled
		    || cpu->path.apic.apic_id == lapicid())
			continue;
		/* The ASEG layout has SMBASEs for APIC ids below CONFIG_MAX_CPUS only. */
		if (cpu->path.apic.apic_id >= CONFIG_MAX_CPUS) {
			printk(BIOS_ERR, "warmboot: APIC id %u has no SMBASE in ASEG\n",
			       cpu->path.apic.apic_id);
			continue;
		}
		lapic_send_ipi(LAPIC_INT_ASSERT | LAPIC_DM_SMI, cpu->path.apic.apic_id);
		udelay(RELOCATION_WAIT_US);
		mask |= 1u << cpu->path.apic.apic_id;
		n++;
	}
	memcpy((void *)DEFAULT_SMM_ENTRY, saved, size);
	printk(BIOS_INFO, "warmboot: relocated the SMBASE of %u AP(s)\n", n);
	return mask;
}

static void warmboot_wdt_init(void *unused)
{
	const void *anchor = cbmem_find(CBMEM_ID_WARMBOOT_PMT);
	uint32_t rcba, cpus;

	if (!anchor)
		return;
	cpus = relocate_ap_smbases();
	/*
	 * SMM keeps the first address and CPU set it is given (EBX, ECX); the
	 * OS cannot replace them.
	 */
	asm volatile("outb %%al, %%dx"
		     : : "a"(APM_CNT_WARMBOOT_ANCHOR), "d"(APM_CNT), "b"(anchor), "c"(cpus)
		     : "memory");

	/* The watchdog's second timeout must reset the machine. */
	rcba = pci_s_read_config32(PCI_DEV(0, 0x1f, 0), LPC_RCBA) & ~0x3fffu;
	if (rcba) {
		volatile uint32_t *gcs = (void *)(uintptr_t)(rcba + RCBA_GCS);
		*gcs &= ~GCS_NO_REBOOT;
	}
	printk(BIOS_INFO, "warmboot: watchdog register dump armed in SMM\n");
}

BOOT_STATE_INIT_ENTRY(BS_WRITE_TABLES, BS_ON_ENTRY, warmboot_wdt_init, NULL);
