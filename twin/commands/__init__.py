"""Subcommands of the ``twin`` command, one module per group (see :mod:`twin.cli`)."""
