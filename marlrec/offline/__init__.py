"""Logged data and off-policy evaluation: a stochastic logging policy's slates with their
propensities (:mod:`~marlrec.offline.logs`), the estimators
(:mod:`~marlrec.offline.estimators`) and their study against the simulator's truth
(:mod:`~marlrec.offline.study`), run by ``marlrec log SPEC`` (:mod:`~marlrec.offline.run`)."""
