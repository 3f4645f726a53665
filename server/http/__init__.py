"""The HTTP/JSON transport: the Open Inference Protocol over REST, beside the gRPC port.

It runs on the gRPC server's event loop (aiohttp), over the same data plane, auth,
limits and drain as the gRPC port; rpc/ holds what both transports share.
"""
