"""warmboot: coreboot + LinuxBoot images with firmware-assisted crash dumps."""

__version__ = "0.1.0"
