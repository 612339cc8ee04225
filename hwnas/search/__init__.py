"""Differentiable, hardware-aware architecture search (DARTS / FBNet / GDAS style)."""
