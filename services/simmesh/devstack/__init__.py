"""Real infrastructure on one machine: etcd, an S3 server, tritonserver and the four services.

Used by `make up` (`python -m simmesh.devstack up`) and by the integration and end-to-end tests,
so the tests start exactly what a user starts.
"""
