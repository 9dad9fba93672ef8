"""SlateQ (Ie et al., IJCAI 2019): Q-learning for the slate policy itself, the slate's
value decomposed into per-item Q-values weighted by a learned user choice model, the slate
chosen by exact (or, for many candidates, greedy) maximisation of that value.

Slate policies only (MultiDiscrete slates; users and providers must be scripted or learned
by another run). Its RLlib parts: :mod:`marlrec.algorithms.slateq_module` (per-candidate Q
from the candidate-scoring network, the choice model, the slate optimisation),
:mod:`marlrec.algorithms.slateq_replay` (transitions that pair each slate with the
response to it: the env answers a slate one step later) and
:mod:`marlrec.algorithms.slateq_rllib` (the TD and choice losses, on DQN's training loop).
Its greedy action is the slate of highest decomposed value.

Training keys: DQN's (``epsilon``, ``n_step``, ``target_network_update_freq``, ``tau``,
``replay_buffer_config``, ``num_steps_sampled_before_learning_starts``,
``training_intensity``, ...). ``n_step`` defaults to 2: the env answers a slate one step
later, so the observation one step after a slate was made before the response to it, and
only a target of two or more steps bootstraps from a state that shows what the response
did. In RecSim-style sessions whose length hangs on a budget the slate policy never
observes, even that cannot credit an item with the session it prolongs;
:data:`SLATEQ_CTDE` bootstraps from a value of the env's global state instead.
"""

from dataclasses import replace

from marlrec.algorithms.algorithm import Algorithm
from marlrec.algorithms.dqn import Q_LEARNING_TRAINING_KEYS

SLATEQ = Algorithm(
    name="SlateQ",
    description="slate Q-learning: per-item Q-values x a learned choice model (slate "
                "policies only)",
    config="marlrec.algorithms.slateq_rllib:SlateQConfig",
    torch_learner="marlrec.algorithms.slateq_rllib:SlateQTorchLearner",
    discrete_actions=False, multi_discrete_actions=True, continuous_actions=False,
    on_policy=False,
    training_keys=Q_LEARNING_TRAINING_KEYS,
    slate_actors=("candidate_scoring",),
    sharing_modes=("independent", "per_role", "shared"),
    training_defaults={"n_step": 2},
    module="marlrec.algorithms.slateq_module:slateq_module_spec",
    greedy="marlrec.algorithms.slateq_module:slateq_greedy_slates",
)

SLATEQ_CTDE = replace(
    SLATEQ, name="SlateQ-CTDE",
    description="SlateQ with centralised training: its TD target bootstraps from a state "
                "value that also reads the env's global state (slate policies only)",
    centralised_critic=True,
)
"""SlateQ whose bootstrap value reads ``env.state()`` in training (centralised training,
decentralised execution, as MAPPO's critic): the Q network and the choice model, and so
acting, read the own observation only."""
