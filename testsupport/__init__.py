"""Support for tests and benchmarks: real PostgreSQL and Redis servers, and a served stack.

Nothing here is imported by the product. Servers run on 127.0.0.1 ports of their own, in
temporary directories, and are stopped by whoever started them.
"""
