"""A ward of several `painwatch serve` nodes sharing one PostgreSQL database (docs/ward.md)."""
