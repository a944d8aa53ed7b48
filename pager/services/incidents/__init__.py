"""Incidents (docs/incidents.md): the humans' record of a problem, its roles, timeline, status
updates and their escalating cadence, postmortems, action items and drills."""
