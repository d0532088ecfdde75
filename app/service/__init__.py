"""The service layer, between the callers (api, cli, portfolio, console) and the
foundations (engine, store): the one decision path (``decide``) and the policy service.

It may import the engine, the store and ``app.core``; nothing below it imports it.
"""


def init_app(app) -> None:
    """What every caller of the service shares, in ``app.extensions``: the one masker of
    personal fields (``vigil.masker``; None unless VIGIL_MASK_PERSONAL is on), used by
    every path that writes the decision log; and the settings of the process's ruleset
    checkers."""
    from app.config import mask_keys
    from app.core import clock
    from app.engine.masking import Masker
    from app.service import checker

    config = app.config
    # The budgets and size of the pool of ruleset checkers (app/service/checker.py).
    checker.configure(checker.Settings.from_config(config))
    # The first key of VIGIL_MASK_KEY masks; the others (older ones, kept after a rotation) only check.
    keys = mask_keys(config.get("VIGIL_MASK_KEY"))
    app.extensions["vigil.masker"] = Masker(keys[0], older=keys[1:]) if config.get("VIGIL_MASK_PERSONAL") else None
    # The clock decisions are made at and follow-up due times are counted by.
    clock.from_config(config)
    app.extensions["vigil.default_task_queue"] = str(config.get("VIGIL_DEFAULT_TASK_QUEUE") or "default").strip()
