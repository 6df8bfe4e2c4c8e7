"""A function tool for the CLI tests: ``--function cli_tools:get_weather`` (tests/ on PYTHONPATH)."""

from __future__ import annotations

TEMPERATURES_C = {"Paris": 18, "Oslo": 4}


def get_weather(city: str) -> dict:
    """Get the current weather in a city."""
    if city not in TEMPERATURES_C:
        raise LookupError(f"no weather station in {city}")
    return {"city": city, "temperature_c": TEMPERATURES_C[city]}
