"""The Open Inference Protocol (KServe V2 REST): tensors in and out, the service's core inside."""
