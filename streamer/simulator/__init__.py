"""A faithful, scriptable, fast simulator of the Claude Managed Agents HTTP API.

See `Simulator` (the programmatic API) and `streamer simulate` (the command line).
"""

from streamer.simulator.config import SimulatorConfig
from streamer.simulator.faults import Faults, FaultSpec
from streamer.simulator.server import Simulator

__all__ = ["FaultSpec", "Faults", "Simulator", "SimulatorConfig"]
