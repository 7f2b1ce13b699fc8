"""Pure metering: rating, periods, money and invoice building. Standard library only."""
