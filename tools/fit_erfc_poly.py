#!/usr/bin/env python3
"""Prints the coefficients of engine/cpu/vec_math.h's erfc polynomial: a weighted least-squares fit of
erfc(a) * exp(a^2) on [0.875, 3.9] by a degree-13 polynomial in (a - 2.375), minimising the relative
error (about 6e-9 in double; the float evaluation gives erf within 3 ulp). Run: python3 tools/fit_erfc_poly.py
"""
import math

import numpy as np

LO, HI, CENTER, DEG = 0.875, 3.9, 2.375, 13
a = np.linspace(LO, HI, 40001)
f = np.array([math.erfc(x) * math.exp(x * x) for x in a])
coef, *_ = np.linalg.lstsq(np.vander(a - CENTER, DEG + 1) / f[:, None], np.ones_like(f), rcond=None)
print("max relative error:", np.max(np.abs(np.polyval(coef, a - CENTER) / f - 1)))
print("highest degree first:", ", ".join(f"{float(np.float32(c)):.9g}f" for c in coef))
