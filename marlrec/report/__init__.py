"""Reports: an experiment's absolute metric, tables and plots, and the
result figures in the docs."""
