"""Implementation details: node layouts, fixed-point solvers and implicit differentiation."""
