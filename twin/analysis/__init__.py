"""What is done with renders: drive and placement optimisation, checks, comparison, benchmarks."""
