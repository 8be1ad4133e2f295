"""hearth: a knowledge-graph and commonsense reasoning engine for voice and home assistants.

>>> from hearth import Hearth
>>> home = Hearth.in_memory().create_household("h1", name="Test home")
>>> home.state.name
'Test home'
"""

from kg.errors import HearthError
from kg.events import Event

from .household import Hearth, Heard, Household

__all__ = ["Hearth", "Household", "Heard", "Event", "HearthError"]
__version__ = "0.1.0"
