"""numsim's regression benchmarks: `python -m benchmarks --help`."""
