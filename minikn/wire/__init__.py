"""The data path's seams shared by ingress and activator: requests, body streams, sinks, errors."""
