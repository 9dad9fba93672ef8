"""The algorithm registry: one module per algorithm declaring its RLlib config, what it
supports, its consensus learner and its greedy-action adapter
(:class:`marlrec.algorithms.algorithm.Algorithm`); the spec validator, the CLI, training and
evaluation read :data:`ALGORITHMS`. Importing it loads neither Ray nor torch.

Adding an algorithm: a module here with its :class:`Algorithm`, plus its line below.
"""

from marlrec.algorithms.algorithm import Algorithm
from marlrec.algorithms.appo import APPO
from marlrec.algorithms.dqn import DQN
from marlrec.algorithms.impala import IMPALA
from marlrec.algorithms.mappo import MAPPO
from marlrec.algorithms.ppo import PPO
from marlrec.algorithms.slateq import SLATEQ, SLATEQ_CTDE

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in (PPO, MAPPO, APPO, IMPALA, DQN, SLATEQ,
                                                     SLATEQ_CTDE)}
"""Every algorithm a spec may name, by name."""

__all__ = ["ALGORITHMS", "Algorithm"]
