"""Currencies (ISO 4217, with their minor units), amounts, and rounding money to a currency's minor units."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal

from pricing.errors import Problem, UnknownCurrency, raise_problems

# Wide enough that sums of quantity x price stay exact before the one rounding per line.
EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN)
# Quantities shown on invoices (e.g. GPU-seconds / 3600) use Python's default decimal context, so anyone
# recomputing them with plain Decimal arithmetic gets the same digits.
QUANTITY = Context(prec=28, rounding=ROUND_HALF_EVEN)

_ZERO_DIGITS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DIGITS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DIGITS = "CLF UYW"
_TWO_DIGITS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL "
    "GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD "
    "LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN "
    "PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL "
    "THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG ZWL"
)

MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_TWO_DIGITS.split(), 2),
    **dict.fromkeys(_ZERO_DIGITS.split(), 0),
    **dict.fromkeys(_THREE_DIGITS.split(), 3),
    **dict.fromkeys(_FOUR_DIGITS.split(), 4),
}


def currency_problems(currency: str, field: str = "currency") -> list[Problem]:
    """A tenant's currency is an ISO 4217 code as written there: upper case ("usd" is refused)."""
    if currency in MINOR_UNITS:
        return []
    return [Problem(field, f"{currency!r} is not an ISO 4217 currency code (such as USD, EUR or JPY)")]


def validate_currency(currency: str, field: str = "currency") -> str:
    raise_problems(currency_problems(currency, field), UnknownCurrency)
    return currency


def normalize_currency(code: str) -> str:
    """The ISO 4217 code of configuration written loosely (" usd "); UnknownCurrency when it is not one."""
    normalized = code.strip().upper()
    if normalized not in MINOR_UNITS:
        raise UnknownCurrency(f"unknown currency {code!r}: expected an ISO 4217 code such as USD, EUR or JPY")
    return normalized


def minor_units(currency: str) -> int:
    return MINOR_UNITS[normalize_currency(currency)]


def amount_problems(value: Decimal | None, field: str) -> list[Problem]:
    """A price or fee: a finite amount of 0 or more."""
    if value is None:
        return [Problem(field, "is required")]
    if not value.is_finite() or value < 0:
        return [Problem(field, f"must be a finite amount of 0 or more, not {value}")]
    return []


def minor_unit_problems(amount: Decimal, currency: str, field: str) -> list[Problem]:
    """An amount of money held as such (a credit) has no more decimals than its currency's minor units;
    nothing to say about an unknown currency or a non-finite amount (their own problems say it)."""
    digits = MINOR_UNITS.get(currency)
    exponent = amount.as_tuple().exponent  # an int for a finite amount
    if digits is None or not isinstance(exponent, int) or exponent >= -digits:
        return []
    return [Problem(field, f"{amount} has more decimals than {currency}'s {digits}")]


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    """A sum that does not round at the current context's 28 digits."""
    total = Decimal(0)
    for value in values:
        total = EXACT.add(total, value)
    return total


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor units (USD 12.345 -> 12.35, JPY 1234.5 -> 1235)."""
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP, context=EXACT)


def plain_decimal(value: Decimal) -> str:
    """A decimal as exported text: plain notation (0.00001, never 1E-5), and no negative zero."""
    return format(abs(value) if value == 0 else value, "f")
