"""Uncertainty for every metric, one module per role (import from the module; this file exports nothing):

* ``intervals``: a mean of items or a proportion: percentile bootstraps, cluster-robust SEMs, Wilson;
* ``crossed``: the mean of a (seeds x prompts) table: ``win_rate_ci``, ``crossed_mean_ci``;
* ``paired``: the difference of two such tables (``paired_difference_ci``, ``rerun_difference_ci``),
  its p-value, Holm's adjustment and a gate's ``minimum_detectable_drop``;
* ``ranks``: rank intervals of a board from the joint paired analysis of its entries.

Simulations with known truth that check these intervals' coverage live with the benchmarks that use them
(benchmarks/validation/simulation.py).
"""
