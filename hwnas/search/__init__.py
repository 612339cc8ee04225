"""Stage 2, search: differentiable, hardware-aware architecture search (DARTS / FBNet / GDAS
style). ``config`` holds a run's settings, ``setup`` assembles data, spaces and cost models,
``searcher`` runs the bi-level loop (``arch``: architecture parameters, ``penalty``: latency and
parameter penalties, ``unrolled``: second-order gradients), and ``result`` ends it: ``repair``
to the budgets by the table, ``measured`` to the latency budget as measured."""
