"""The pure core: plain data and rules, no I/O, no clock reads, no other touchflow package."""
