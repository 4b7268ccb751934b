"""pollwise's adapters: clocks, HTTP, the reference server, scenarios and the CLI."""

from .clocks import FakeClock, SystemClock
from .generations import Generation, GenerationRunningError, Generations
from .import_trace import import_recording
from .replay import ReplayResult, replay_trace
from .scenario import Scenario, load_scenario
from .scripted_api import AsyncScriptedApi, ScriptedApi
from .simulate import SimulationResult, simulate
from .trace import Trace, TraceError, read_trace
from .trace_recorder import TraceRecorder
from .whatif import compare_policies

__all__ = [
    "AsyncScriptedApi",
    "FakeClock",
    "Generation",
    "GenerationRunningError",
    "Generations",
    "ReplayResult",
    "Scenario",
    "ScriptedApi",
    "SimulationResult",
    "SystemClock",
    "Trace",
    "TraceError",
    "TraceRecorder",
    "compare_policies",
    "import_recording",
    "load_scenario",
    "read_trace",
    "replay_trace",
    "simulate",
]
