"""Generated stubs for the simmesh gRPC contracts (`make proto`)."""
