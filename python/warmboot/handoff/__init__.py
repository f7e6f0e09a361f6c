"""How the preserved-memory table (warmboot.pmt) travels between OS and
firmware: coreboot table records, the device tree, the EFI configuration
table; reading physical memory; and cgen, which generates payloads/libpmt/pmt.h
and docs/pmt.md's tables from warmboot.pmt.spec."""
