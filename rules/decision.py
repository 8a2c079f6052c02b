"""A routing decision and its explanation, as published on ``tike.decisions``. The model is
part of the output contracts (:mod:`tike.outputs`)."""

from tike.outputs import Decision, MatchedCondition

__all__ = ["Decision", "MatchedCondition"]
