"""ELF vmcores from preserved memory: a streaming writer and a reader."""
