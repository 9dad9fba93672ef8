"""Evaluation: fixed-seed rollouts of learned policies and baselines,
offline ranking on held-out ratings, aggregation across runs."""
