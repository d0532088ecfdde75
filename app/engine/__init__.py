"""The Vigil engine: fact contracts, the policy language and the forward-chaining engine.

No Flask and no SQL here. Typical use::

    library = load_library("rulesets", "schemas")
    evaluation = library.ruleset("retail_card").evaluate(snapshot, explain="full")
    evaluation.to_dict()
"""
from .contract import FactContract
from .errors import (ContractNotFound, EngineError, EvaluationError, LoopBoundExceeded, NotFound, Problem,
                     RulesetInvalid, RulesetNotFound, SnapshotInvalid)
from .library import Library, load_library, read_yaml
from .result import Evaluation
from .ruleset import Ruleset

# The version of the evaluation semantics: bumped whenever evaluation order, the
# regular-expression engine or numeric rules change, so that a replay can tell a
# changed decision from changed semantics. Every logged decision records it.
# 2: a rule reading ``not signal(x)`` waits only for the rules deriving x, then fires in
#    priority order (1 held it back until every other activated rule had fired).
# 3: `matches` runs RE2 (linear time; \d and \w are ASCII), and a text over 10,000
#    characters is not matched (unknown).
# 4: a value that fails its contract's plausibility check is read as missing.
SEMANTICS_VERSION = 4

__all__ = ["ContractNotFound", "EngineError", "Evaluation", "EvaluationError", "FactContract", "Library",
           "LoopBoundExceeded", "NotFound", "Problem", "Ruleset", "SEMANTICS_VERSION", "RulesetInvalid", "RulesetNotFound",
           "SnapshotInvalid", "load_library", "read_yaml"]
