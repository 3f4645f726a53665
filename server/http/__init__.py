"""The HTTP transport: a server beside gRPC, in the same process and event loop."""
