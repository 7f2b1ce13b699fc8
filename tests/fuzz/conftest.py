"""The whole factory (the e2e suite's fixture): the gateway is fuzzed with metering, the scheduler and
agents behind it, so its reads of usage, invoices and jobs answer as in production."""

from tests.e2e.conftest import factory

__all__ = ["factory"]
