"""The interview stream (docs/realtime.md): the consumer and what it is built from.

``frames`` builds every server→client frame (services, the consumer and the SSE stream use it);
``consumer`` serves the socket; ``auth`` resolves its credentials; ``limits`` bounds what a
client may send; ``audio`` buffers spoken answers. Importing this package imports none of them,
so services can use ``frames`` without pulling in Channels.
"""
