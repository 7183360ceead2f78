"""The simulator fixtures (a real subprocess, a client) for the dispatcher tests."""

from tests.simulator.conftest import simulator, simulator_url

__all__ = ["simulator", "simulator_url"]
