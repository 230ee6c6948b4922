"""The web desk (窗口): Yihao in a browser for counter handlers, supervisors and operators.

A backend-for-frontend: a Starlette + Jinja2 app that calls the gRPC services with the client
certificate of the signed-in staff member's department, like any department's system
(:mod:`clients.web.backend`); the browser never speaks gRPC. Served by ``yihao web serve``;
see docs/web.md. It imports ``clients`` and ``yihao_shared`` only, never the server.
"""
