pytest_plugins = ["tests.support.infra"]
