"""Handoff tables: the preserved-memory table (PMT) and the forms firmware hands it over in."""
