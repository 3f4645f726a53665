"""The fuzz: seeded calls over every method on gatenet's port as raw bytes, sent and judged.

By job: `calls` (what a call is, what it may refer to), `wire` (values at the edges and
mutations of one message's bytes: protobuf would refuse invalid UTF-8, wrong wire types or
-1 in an unsigned field, so these are written by hand, appended to a valid message that
protobuf then merges), `generator` (`FuzzRequests(seed, targets, auth).calls(n)`: the same
calls for the same seed; with `auth` (headers), `files` (damaged model files for
ImportModel) and `inference` (KServe V2)), `runner` (send concurrently, record (method,
code), a finding for any answer a server must never give) and `lifecycle` (`prepare` the
models the calls refer to; `afterwards`, the server is healthy and still answers right).
tests/fuzz/ runs a few hundred calls; bench/fuzz.py runs 10,000 and more.
"""
