"""Pure core: rotation math, schedule resolution, escalation state machine. No I/O, `now` passed in."""
