"""lineage: Inception to Xception, block by block, in JAX/Flax NNX."""
