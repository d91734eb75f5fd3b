"""minicnn against PyTorch, side by side in one process: training steps of the course models,
inference throughput, single ops, peak memory, and a full Fashion-MNIST epoch.

Run ``python -m benchmarks --help`` (or ``minicnn bench --help``); ``benchmarks/README.md``
explains the method and what the figures mean.
"""
