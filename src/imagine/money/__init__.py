"""Money: what a render costs (pricing), the caps on spending (caps) and where it went (spending).

No I/O but the ledger's reads; the checks made as a job is sent are in imagine.ledger.reserve.
"""
