"""ACD routing engine (queues, skills, agents, KPIs) — arrives with the routing issue."""
