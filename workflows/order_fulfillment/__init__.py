from workflows.order_fulfillment.models import OrderInput, OrderResult
from workflows.order_fulfillment.workflows import OrderFulfillmentWorkflow

__all__ = ["OrderFulfillmentWorkflow", "OrderInput", "OrderResult"]
