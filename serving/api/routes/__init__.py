"""One router per resource; ``serving.api.main`` includes them in the order OpenAPI lists them."""
