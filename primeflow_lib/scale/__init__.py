"""Beyond one machine: local servers for the scale profile (:mod:`.local_services`), content
hashes to compare profiles (:mod:`.content`) and cluster sweeps (:mod:`.cluster`). User manual:
``docs/scaling.md``."""
