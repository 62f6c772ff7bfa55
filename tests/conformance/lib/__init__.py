"""Helper modules of the conformance runner (tests/conformance/run)."""
