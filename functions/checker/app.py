"""AWS Lambda entry point (template.yaml: ``Handler: app.lambda_handler``)."""

from imagewatch.handler import lambda_handler

__all__ = ["lambda_handler"]
