"""Near-duplicate clusters of a land's images, kept in the database.

* :mod:`.compute`: full and incremental runs of the engine over a land, written as rows;
* :mod:`.corrections`: manual merges and splits, stored as links between media, and their undo;
* :mod:`.queries`: a land's clusters and a cluster's details, for the admin pages and the API;
* :mod:`.exports`: what the exports app reads (a media's cluster, the clustercsv rows);
* :mod:`.params`: the engine's parameters and input, and constants shared by the above.

The public functions are re-exported here for convenience; project code imports them
from their module.
"""

from media_analysis.clusters.compute import (
    ClusterReport,
    cluster_land,
    recluster_land,
    update_clusters_for_media,
    update_clusters_for_new_media,
)
from media_analysis.clusters.corrections import (
    CorrectionResult,
    dependent_corrections,
    merge_clusters,
    split_cluster,
    surviving_cluster,
    undo_correction,
)
from media_analysis.clusters.exports import CLUSTER_CSV_COLUMNS, cluster_ids_for, iter_cluster_rows, with_cluster_key
from media_analysis.clusters.params import cluster_params
from media_analysis.clusters.queries import (
    CLUSTER_ORDERINGS,
    Appearance,
    ClusterDetails,
    CorrectionPreview,
    Distance,
    cluster_details,
    clusters_of_land,
    land_clustering,
    member_previews,
    pairwise_distances,
    recent_corrections,
)

__all__ = [
    "CLUSTER_CSV_COLUMNS",
    "CLUSTER_ORDERINGS",
    "Appearance",
    "ClusterDetails",
    "ClusterReport",
    "CorrectionPreview",
    "CorrectionResult",
    "Distance",
    "cluster_details",
    "cluster_ids_for",
    "cluster_land",
    "cluster_params",
    "clusters_of_land",
    "dependent_corrections",
    "iter_cluster_rows",
    "land_clustering",
    "member_previews",
    "merge_clusters",
    "pairwise_distances",
    "recent_corrections",
    "recluster_land",
    "split_cluster",
    "surviving_cluster",
    "undo_correction",
    "update_clusters_for_media",
    "update_clusters_for_new_media",
    "with_cluster_key",
]
