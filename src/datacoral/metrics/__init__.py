"""Prometheus metrics shared by ``datacoral serve`` and ``datacoral load``: cheap tallies
that feed prometheus_client (:mod:`.tallies`), and the listener scrapes reach
(:mod:`.listener`). Those modules import prometheus_client; this one does not, so a
process can choose multiprocess mode before it is imported."""

#: The variable prometheus_client reads when it is first imported: set, its values live
#: in files in that folder, which a supervisor sums (multiprocess mode).
MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
