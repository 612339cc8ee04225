"""Definitions every stage shares and that import nothing else of hwnas: devices, operations,
genotypes, data sets, atomic files, units, seeds, settings and counting."""
