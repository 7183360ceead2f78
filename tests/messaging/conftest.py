"""The simulator fixtures (a real subprocess, a client, a webhook receiver) for the dispatcher and template tests."""

from tests.simulator.conftest import receiver, simulator, simulator_url

__all__ = ["receiver", "simulator", "simulator_url"]
