"""From a validated spec to RLlib training: the multi-agent env wrapper,
connectors, the RLlib config of a trial and the Tune run."""
