"""Fire detection on the box: detector state machines, the zone rule, the pipeline."""
