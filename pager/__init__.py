"""pager: on-call paging and escalation engine."""
