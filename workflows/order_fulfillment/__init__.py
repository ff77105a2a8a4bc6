from .models import OrderInput, OrderResult
from .workflows import OrderFulfillmentWorkflow

__all__ = ["OrderFulfillmentWorkflow", "OrderInput", "OrderResult"]
