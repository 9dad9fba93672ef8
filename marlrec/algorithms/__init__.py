"""The algorithm registry: one module per algorithm declaring its RLlib
config, capabilities, consensus learner and greedy-action adapter; the shared RLModule."""
