class ChatError(Exception):
    """A request the chat domain refuses; views turn it into a JSON error with `status`."""

    def __init__(self, code: str, detail: str, *, status: int = 400) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.status = status


class RoomNotFound(ChatError):
    # Strangers get the same answer for a room that exists as for one that
    # does not, so room ids reveal nothing.
    def __init__(self) -> None:
        super().__init__("not_found", "No such room.", status=404)


class NotRoomAdmin(ChatError):
    def __init__(self) -> None:
        super().__init__("forbidden", "Only a room admin can do that.", status=403)
