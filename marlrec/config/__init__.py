"""Experiment specs: YAML validated into typed dataclasses, with no Ray or torch import."""
