"""The foundation every layer may import: one JSON codec and one error base.

It imports nothing else from ``app``; the engine and the store, which import nothing
of each other, both stand on it.
"""
