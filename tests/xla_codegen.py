"""XLA's cheapest CPU code generation, for every program the suite compiles.

The tests check values, not speed, and unoptimized code generation compiles the suite's many
small programs (eager initializers' included) several times faster. tests/conftest.py sets it
for the test processes; the tests that launch `python -m lineage.main` pass it on. Timings:
experiments/results/test_codegen.md.
"""

CHEAPEST = '--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true'
