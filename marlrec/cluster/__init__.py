"""The same experiment on a Ray cluster: cluster.yaml, job submission."""
