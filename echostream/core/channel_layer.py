"""channels_redis's layer, with a small buffer per process-local channel.

The layer buffers frames for each of the process's channels (one per socket) in a queue that
exists while the socket waits for its next frame, that is, all the time for an idle socket.
channels_redis makes it an asyncio.Queue (about 3 KB empty); a LeanQueue has the same rule (at
`capacity`, the oldest frame is dropped) at a fraction of that.
"""

from __future__ import annotations

import collections
import functools
from typing import Any

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer

from echostream.core.leanqueue import LeanQueue


class RedisChannelLayer(_RedisChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.receive_buffer = collections.defaultdict(functools.partial(LeanQueue, self.capacity))
