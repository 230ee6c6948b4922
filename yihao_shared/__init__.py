"""What the client library and the server share, and the client ships: plain Python only.

The ``yihao-client`` distribution (``clients/``, the generated stubs in ``yihao/`` and this
package) installs without the server; the server imports these modules from here. Nothing
here imports grpc, SQLAlchemy or cryptography.
"""
