"""The pricing core: the rules of money that the gateway and metering both apply, in one home.

Currencies and rounding (money), billing periods (periods), meters (meters), price plans
(price_plans), committed-use discounts (commitments), prepaid credit (credits), budgets (budgets) and
a price book's terms as a tenant sets them (price_books). Each rule has one validator that returns
every problem with its field path (errors.Problem); pure: the standard library only, no I/O, no clock.
"""
