"""The synthetic pack for tests and demos: never on the serving import path."""
