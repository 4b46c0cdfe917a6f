"""``minikn simulate``: replaying a trace through the autoscaler on a virtual clock."""
