"""The service layer, between the callers (api, cli, portfolio, console) and the
foundations (engine, store): the one decision path (``decide``) and the policy service.

It may import the engine, the store and ``app.core``; nothing below it imports it.
"""
