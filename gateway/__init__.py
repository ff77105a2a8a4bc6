"""The HTTP gateway: stateless Starlette app turning REST calls into Temporal client calls."""

from gateway.app import create_app

__all__ = ["create_app"]
