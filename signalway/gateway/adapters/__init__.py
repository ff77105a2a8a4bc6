"""The gateway's adapters: the only modules that import `temporalio` or `redis`.

They speak the backends' terms and turn their failures into the gateway's error tree
(`gateway.errors`), so services and routes never see an `RPCError` or a `ConnectionError`.
"""
