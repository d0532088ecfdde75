"""The property tests' hypothesis profile: derandomized with a fixed budget in CI,
exploring locally."""

import os
import subprocess
import sys

from hypothesis import settings

from tests.conftest import ROOT, hypothesis_profile

PROBE = """
import json, sys
sys.path.insert(0, ".")
import tests.conftest
from hypothesis import settings
print(json.dumps({"derandomize": settings.default.derandomize, "max_examples": settings.default.max_examples,
                  "database": settings.default.database is None, "deadline": settings.default.deadline}))
"""


def loaded(**environ) -> dict:
    import json

    env = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**env, **environ}, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_ci_runs_are_derandomized_with_a_fixed_budget():
    ci = {"derandomize": True, "max_examples": 100, "database": True, "deadline": None}
    assert loaded(CI="true") == ci
    assert loaded(HYPOTHESIS_PROFILE="ci") == ci


def test_local_runs_explore():
    local = loaded()
    assert local["derandomize"] is False and local["deadline"] is None
    assert loaded(CI="false")["derandomize"] is False


def test_the_profile_follows_the_environment():
    assert hypothesis_profile({"CI": "true"}) == "ci"
    assert hypothesis_profile({"CI": "TRUE"}) == "ci"
    assert hypothesis_profile({}) == "dev"
    assert hypothesis_profile({"CI": "true", "HYPOTHESIS_PROFILE": "dev"}) == "dev"
    assert settings.default.derandomize is (hypothesis_profile(os.environ) == "ci")
