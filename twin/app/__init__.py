"""The trame web application. Only this package imports trame."""
