"""Commands built on the whole system: the demo and the benchmarks."""
