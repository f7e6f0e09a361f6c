"""What the build steps do, without SCons: the commands they run and in what
environment, and the files they write. The SCons tools (warmboot.scons) put
these into the build graph; the benchmark and the tests call them directly,
so what they run is what the image is built with.

    run        logged, timed commands in a pinned environment (run_logged, host_env)
    kconfig    Kconfig fragments and the check that a merged config kept them
    coreboot   patching and making coreboot 4.15
    kernel     configuring and making Linux (kernel_make, configure_kernel)
    payloads   the compile command of the static C tools
    initramfs  the gen_init_cpio list and the xz settings
"""
