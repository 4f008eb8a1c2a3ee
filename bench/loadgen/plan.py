"""Who is in which room, and who sends what when: fixed before a step starts, the same for every system."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Plan:
    users: int
    rooms: list[list[int]]  # per room, its members' user indexes

    @classmethod
    def make(cls, users: int, rooms: int, members: int) -> Plan:
        """Room r takes `members` consecutive users from r * stride on (wrapping), so that rooms overlap
        by a user or so at the default 60 users / 12 rooms x 6 (12 users in two rooms, 48 in one),
        like people who share a team: deterministic, so that every system sees the same traffic."""
        if members > users:
            raise ValueError("a room cannot have more members than there are users")
        stride = max(1, users // rooms)
        return cls(users, [[(r * stride + j) % users for j in range(members)] for r in range(rooms)])

    def rooms_of(self, user: int) -> list[int]:
        return [r for r, members in enumerate(self.rooms) if user in members]


@dataclass
class Message:
    index: int
    room: int
    sender: int
    offset: float  # seconds after the step's start at which it is sent, whatever the server does
    sent_at: float | None = None  # perf_counter() of the first attempt
    lag: float = 0.0  # how late the generator itself was on the schedule
    acked_at: float | None = None
    rate_limited: int = 0  # `rate_limited` answers (each followed by a retry after retry_after)
    refused: str | None = None  # a final refusal: another reason, or rate_limited past the retry window
    arrivals: dict[int, float] = field(default_factory=dict)  # receiver -> perf_counter() of its first copy
    answers: list[str] = field(default_factory=list)  # the server's answers to its sends, for the lost ones' story


def schedule(plan: Plan, rate: float, duration: float) -> list[Message]:
    """`rate` messages a second for `duration` seconds, evenly spaced. Rooms take turns, and
    within a room its members take turns, so each user sends at a steady share of the rate."""
    count = max(1, round(rate * duration))
    room_count = len(plan.rooms)
    messages = []
    for index in range(count):
        room = index % room_count
        members = plan.rooms[room]
        sender = members[(index // room_count) % len(members)]
        messages.append(Message(index=index, room=room, sender=sender, offset=index / rate))
    return messages
