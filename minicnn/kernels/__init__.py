"""Hot-loop kernels on raw arrays: Numba (CPU), numba.cuda (GPU) and readable xp oracles."""
