"""An aggregate's parts in one place: its stream name, empty state, evolve and decide."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from catalogue.events import Event

S = TypeVar("S")
C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Aggregate(Generic[S, C]):
    """A kind of entity: events fold into its state, and commands decide on that state."""

    #: The stream name's prefix: `dataset` for `dataset-<id>`.
    category: str
    initial: S
    evolve: Callable[[S, Event], S]
    decide: Callable[[S, C], list[Event]]

    def stream(self, key: Any) -> str:
        """The stream of the entity with this key (an id or a name)."""
        return f"{self.category}-{key}"
