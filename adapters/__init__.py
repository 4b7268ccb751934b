"""pollwise's adapters: clocks, HTTP, the reference server, scenarios and the CLI."""

from .clocks import FakeClock, SystemClock
from .scenario import Scenario, load_scenario
from .scripted_api import AsyncScriptedApi, ScriptedApi
from .simulate import SimulationResult, simulate

__all__ = [
    "AsyncScriptedApi",
    "FakeClock",
    "Scenario",
    "ScriptedApi",
    "SimulationResult",
    "SystemClock",
    "load_scenario",
    "simulate",
]
