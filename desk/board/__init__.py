"""The kanban board of a queue (S0's columns and card positions): placement rules
(placement.py), columns (columns.py), the board and card moves (cards.py)."""
