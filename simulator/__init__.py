"""A faithful, scriptable, fast simulator of the Claude Managed Agents HTTP API.

See `Simulator` (the programmatic API) and `streamer simulate` (the command line).
"""

from simulator.config import SimulatorConfig
from simulator.faults import Faults, FaultSpec
from simulator.server import Simulator

__all__ = ["FaultSpec", "Faults", "Simulator", "SimulatorConfig"]
