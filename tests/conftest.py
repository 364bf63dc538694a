"""Shared pytest configuration. Tier fixtures live in their own modules, listed here."""

pytest_plugins: list[str] = ["llm_server", "sandbox_backends", "sandbox_docker"]
