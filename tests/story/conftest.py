from tests.insurance.conftest import policy, scheme  # noqa: F401  (fixtures: the scheme and its published policy)
