"""The transfer matrix: candidate culling, CPU and GPU kernels, the cache."""
