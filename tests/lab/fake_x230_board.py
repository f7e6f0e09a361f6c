"""A stand-in for an X230 on the bench, for the region-flash tests: the X230 cannot
boot in CI (no QEMU machine models it), so its "boot" is this serial console.

    fake_x230_board.py PORT CHIP_FILE

Listens on 127.0.0.1:PORT (the console, like ser2net) and, to each client, prints
what a boot of the chip's BIOS region would print: coreboot's banner and
LinuxBoot's marker, or, when the BIOS region holds the bytes BROKEN-IMAGE (a test
release made to fail), the banner and "Payload not loaded". It reads the chip at
power-on, as a board reads its flash at reset. Nothing here boots firmware.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

BIOS_START = 0x500000
BANNER = b"coreboot-4.15 x230-stand-in bootblock starting (log level: 7)...\r\n"


def main() -> None:
    port, chip = int(sys.argv[1]), Path(sys.argv[2])
    bios = chip.read_bytes()[BIOS_START:]
    if b"BROKEN-IMAGE" in bios:
        text = BANNER + b"Payload not loaded.\r\n"
    else:
        text = BANNER + b"warmboot: linuxboot ready\r\n"
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(4)
    clients = []
    while True:
        client, _ = server.accept()
        client.sendall(text)
        clients.append(client)  # held open until power-off kills this process


if __name__ == "__main__":
    main()
