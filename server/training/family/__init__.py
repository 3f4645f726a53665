"""Families: every boolean function of n inputs (or a list), trained in one batched program.

tables.py names the functions, npn.py groups them into symmetry classes, batch.py trains many
tables at one width at once, search.py runs the width search and derives class members.
"""
