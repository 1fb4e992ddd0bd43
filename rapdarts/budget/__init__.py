"""Budgets: ``--budget params=3M`` met in one search by dual ascent on each cost's lambda, with a
derivation-aware expected cost, the search space's floor, and a repair of a final genotype that
ends over budget."""

from rapdarts.budget.dual import DualAscent, dual_step
from rapdarts.budget.penalty import BudgetPenalty, BudgetTerm
from rapdarts.budget.values import Budget, parse_budget_value, resolve_budgets

__all__ = ["BudgetPenalty", "BudgetTerm", "DualAscent", "dual_step", "Budget", "parse_budget_value", "resolve_budgets"]
