"""The resident flows, one module each. Every step takes a Turn and a state and returns a Step.

``REGISTRY`` lists every flow the router can reach; the router builds its tables from it.
"""

from bot.dialogs.flows import handoff, legal, my_data, progress, report, safety
from bot.dialogs.registry import Registry

REGISTRY = Registry((safety.SPEC, report.SPEC, progress.SPEC, legal.SPEC, handoff.SPEC, my_data.SPEC))
REGISTRY.check()
