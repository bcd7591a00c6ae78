"""Speed: what the machine does per second with each part of the project, against PyTorch and
the best GEMM where that says something (`python -m benchmarks.run` runs them all)."""
