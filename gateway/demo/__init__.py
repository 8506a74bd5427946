"""The demo: everything needed to try the gateway on one machine. NOT FOR PRODUCTION.

Nothing in this package is used unless `gateway.development = true`; the demo
refuses to start otherwise.
"""
