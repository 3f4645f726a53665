"""The names and rules server, client, tests and bench share: gates, layers, enums, wire.

Each module depends on the standard library and numpy only (`enums` also reads the
generated proto module, never grpc), so the training core and the torch-free client can
both import it; neither side keeps a copy of its own.
"""
