"""Read-only SQL over the current snapshots: the views and their sandbox (:mod:`.views`),
and the cached, limited engine behind ``POST /api/v1/query`` (:mod:`.engine`)."""
