"""ACD routing: agents and their state machine, queues, priority, atomic assignment, KPIs, Erlang C.

See docs/routing.md for the rules, the formulas and how concurrent workers are kept apart.
"""
