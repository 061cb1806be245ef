"""Kepler's third law from the planets' orbits: fit period ~ a**k on a log-log scale.

Reads data/planets.csv, writes fit.csv (one row per planet with the fitted period) and
prints the exponent (Kepler: 1.5).
"""

import numpy as np
import pandas as pd

planets = pd.read_csv("data/planets.csv")
k, log_c = np.polyfit(np.log(planets["semi_major_axis_au"]), np.log(planets["period_years"]), 1)
planets["fitted_period_years"] = (np.exp(log_c) * planets["semi_major_axis_au"] ** k).round(3)
planets.to_csv("fit.csv", index=False)
print(f"exponent {k:.3f}")
