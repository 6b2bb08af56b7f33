"""The doctor: facts about this machine, the checks over them, the report, and a smoke test of an endpoint."""
