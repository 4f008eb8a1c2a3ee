"""The baseline of `bench/load.py`: a Channels-tutorial chat, never part of the product.

One consumer: a socket joins the groups named in its query string (`/ws/?rooms=r1,r2`) and every
text frame `{"room": ..., ...}` it sends is group_sent, as it is, to that room's members through
channels_redis. No auth, no Kafka, no database: the floor under any Channels chat on this machine.
"""
