"""Currencies (ISO 4217) and rounding money to a currency's minor units."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal

from services.metering.domain.errors import UnknownCurrency

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


def normalize_currency(code: str) -> str:
    """The ISO 4217 code in upper case; UnknownCurrency when it is not one."""
    normalized = code.strip().upper()
    if normalized not in MINOR_UNITS:
        raise UnknownCurrency(f"unknown currency {code!r}: expected an ISO 4217 code such as USD, EUR or JPY")
    return normalized


def minor_units(currency: str) -> int:
    return MINOR_UNITS[normalize_currency(currency)]


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
