pytest_plugins = ["shared.testing.infra"]
