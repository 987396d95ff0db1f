"""Light in tissue: layered skin optics, Monte Carlo depth kernels and fluence rate at depth."""
