"""The chat tests that concern runs (stop, resume, disconnect) run against both twins (`twin`, from
tests/conftest.py): the in-process app and an app on Redis."""
