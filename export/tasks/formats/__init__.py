"""Readers for real benchmarks in their official file formats."""
