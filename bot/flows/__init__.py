"""Platform-neutral flows: one module per feature; a neutral event in, a plain answer out."""
