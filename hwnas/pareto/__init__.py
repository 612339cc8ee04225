"""Stage 3, Pareto fronts: the objectives (``objectives``: one-shot error, table latency,
parameters, FLOPs, NAS-Bench-201), NSGA-II over genotype vectors (``nsga2``, ``mutation``),
and the plots of a front (``plots``)."""
