from tests.inprocess import make_user, open_socket  # noqa: F401  (fixtures)
