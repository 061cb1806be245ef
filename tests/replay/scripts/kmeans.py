import sys

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

df = pd.read_csv(sys.argv[1])
model = KMeans(n_clusters=3, n_init=4).fit(df[["x", "y"]].to_numpy())
np.save(sys.argv[2], np.column_stack([model.labels_, model.cluster_centers_[model.labels_]]))
