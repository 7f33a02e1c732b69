"""Data sets and external files: downloads, readers, and the embedded synthetic defaults."""
