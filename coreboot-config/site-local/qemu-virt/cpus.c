/* SPDX-License-Identifier: GPL-2.0-only */

/*
 * QEMU virt gets its CPU count at run time (-smp); the board's device tree
 * lists the most this firmware supports (TF-A's QEMU platform: four cores in
 * cluster 0). Drop the cpu nodes beyond the CPU interfaces the GIC
 * distributor implements, so the kernel does not wait for CPUs that do not
 * exist (PSCI CPU_ON succeeds for any core TF-A knows).
 */

#include <bootstate.h>
#include <console/console.h>
#include <device/mmio.h>
#include <device_tree.h>
#include <endian.h>
#include <list.h>
#include <stdint.h>
#include <string.h>

#define VIRT_GICD_BASE		0x08000000
#define GICD_TYPER		0x004
#define GICD_TYPER_CPUS(typer)	((((typer) >> 5) & 0x7) + 1)

static u32 cpu_reg(const struct device_tree_node *cpu)
{
	const void *data = NULL;
	size_t size = 0;

	dt_find_bin_prop(cpu, "reg", &data, &size);
	if (size != sizeof(u32))
		return UINT32_MAX;
	return be32toh(*(const u32 *)data);
}

static int virt_cpus_fixup(struct device_tree_fixup *fixup, struct device_tree *tree)
{
	const u32 present = GICD_TYPER_CPUS(read32((void *)(VIRT_GICD_BASE + GICD_TYPER)));
	struct device_tree_node *cpus = dt_find_node_by_path(tree, "/cpus", NULL, NULL, 0);
	struct device_tree_node *cpu;
	unsigned int listed = 0, dropped = 0;

	if (!cpus)
		return 0;
	list_for_each(cpu, cpus->children, list_node) {
		if (strncmp(cpu->name, "cpu@", 4) != 0)
			continue;
		listed++;
		/* Cluster 0 only: a cpu's reg is its MPIDR, here Aff0. */
		if (cpu_reg(cpu) >= present) {
			list_remove(&cpu->list_node);
			dropped++;
		}
	}
	printk(BIOS_INFO, "qemu-virt: %u CPUs (GICD_TYPER); device tree lists %u, dropped %u\n",
	       present, listed, dropped);
	return 0;
}

static struct device_tree_fixup fixup = {
	.fixup = virt_cpus_fixup,
};

static void register_fixup(void *unused)
{
	list_insert_after(&fixup.list_node, &device_tree_fixups);
}

BOOT_STATE_INIT_ENTRY(BS_PAYLOAD_LOAD, BS_ON_ENTRY, register_fixup, NULL);
