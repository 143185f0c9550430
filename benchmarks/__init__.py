"""Performance and accuracy benchmarks; `make bench` runs them all and writes docs/benchmarks.md."""
